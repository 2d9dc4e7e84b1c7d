"""INTERIM, removed when the verifier branch lands on main: journal_reader's
agreed verify_record / chain_anchor, backed by its own tag_for."""
from host_tools.hodata import journal_reader as _jr

if not hasattr(_jr, "verify_record"):
    # INTERIM, until the verifier branch lands on main (then removed): the
    # agreed signatures, backed by journal_reader's own tag_for.
    import hmac as _hmac

    def _chain_anchor(till_id: str) -> bytes:
        return till_id.encode()

    def _verify_record(record: dict, key: bytes, prev_tag: bytes, till_id: str,
                       expected_seq: int) -> list[str]:
        if record.get(1) != expected_seq:
            return [f"expected record {expected_seq}"]
        if not isinstance(record.get(6), bytes) or not _hmac.compare_digest(
                _jr.tag_for(key, prev_tag, record), record[6]):
            return ["chain tag does not verify"]
        return []

    _jr.chain_anchor = _chain_anchor  # type: ignore[attr-defined]
    _jr.verify_record = _verify_record  # type: ignore[attr-defined]

