#!/bin/bash
# Issue 15: the 4 KiB PUT rate and CPU of a cluster running its default daemons (started 90 s
# before the first run) against one without, 3 runs each, one cluster after the other.
#   bash bench/daemons_put_bench.sh
cd "$(dirname "$0")/.."
PY=.venv/bin/python
for mode in daemons none; do
  dir=/tmp/sp-$mode; rm -rf $dir
  if [ $mode = daemons ]; then port=27600; d=True; else port=27400; d=False; fi
  $PY -c "from oiofs.cli.allinone.cluster import AllInOne; AllInOne('$dir', port_base=$port, proxy_workers=1, daemons=$d).start()" >/dev/null 2>&1
  [ $mode = daemons ] && sleep 90
  for r in 1 2 3; do
    echo "== $mode round $r load $(cut -d' ' -f1 /proc/loadavg)"
    $PY bench/smallput_bench.py --dir $dir --port $port --objects 1500 | grep -E "PUT|total|daemons"
  done
  bin/oiofs-allinone stop --dir $dir >/dev/null 2>&1; rm -rf $dir
done
