"""Signed tokens: round trip, forgery, expiry, key change."""

from oiofs.proxy.middleware.tokens import TokenSigner


def test_token_round_trip():
    signer = TokenSigner("s3cret")
    token = signer.make("test:tester", "testing", 2000)
    assert token.startswith("AUTH_tk")
    assert signer.parse(token) == ("test:tester", 2000)
    assert signer.verify(token, "testing", now=1999)


def test_expired_token_refused():
    signer = TokenSigner("s3cret")
    token = signer.make("test:tester", "testing", 2000)
    assert not signer.verify(token, "testing", now=2000)


def test_other_secret_or_key_refused():
    token = TokenSigner("s3cret").make("test:tester", "testing", 2000)
    assert not TokenSigner("other").verify(token, "testing", now=0)
    assert not TokenSigner("s3cret").verify(token, "new-key", now=0)


def test_tampering_refused():
    signer = TokenSigner("s3cret")
    token = signer.make("test:tester", "testing", 2000)
    prefix = "AUTH_tk"
    # push the expiry out: the signature no longer matches
    forged = prefix + "%08x" % 0xFFFFFFFF + token[len(prefix) + 8:]
    assert signer.parse(forged)[1] == 0xFFFFFFFF
    assert not signer.verify(forged, "testing", now=0)
    # claim to be another user
    other_user = b"test2:tester2".hex()
    forged = token[:len(prefix) + 8] + other_user + token[-32:]
    assert signer.parse(forged)[0] == "test2:tester2"
    assert not signer.verify(forged, "testing", now=0)


def test_malformed_tokens_do_not_parse():
    signer = TokenSigner("s3cret")
    for bad in ("", "AUTH_tk", "AUTH_tkzz", "OTHER_tk" + "0" * 50, "AUTH_tk" + "g" * 50):
        assert signer.parse(bad) is None


def test_reseller_prefix_is_part_of_the_token():
    token = TokenSigner("s", "AUTH_").make("a:u", "k", 10)
    assert TokenSigner("s", "OTHER_").parse(token) is None
