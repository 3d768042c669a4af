"""The directory (seed 001): oiofs's control plane.

The conscience (services and their scores), the meta0 prefix mapping, references with
linked services, and the admin operations an operator runs on bases and services.
See docs/directory.md.
"""
