"""The lossy filesystem's model, tested without FUSE: a power-cut test is only as good as its cut.

A reference model (two byte strings: what a program reads, what the media holds) is driven
alongside tests.support.lossyfs.LossyState by hypothesis; after every step the program's view
must be exact, a clean cut must leave exactly the last flushed content, and a torn cut may leave,
sector by sector, only the flushed or the written bytes — never anything else.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.lossyfs import PAGE, SECTOR, LossyState


def fresh(tmp_path: Path) -> LossyState:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "f").write_bytes(b"")
    return LossyState(tmp_path)


ops = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 3 * PAGE), st.binary(min_size=1, max_size=PAGE + 100)),
    st.tuples(st.just("truncate"), st.integers(0, 4 * PAGE)),
    st.tuples(st.just("fsync")),
), max_size=25)


@settings(max_examples=300, deadline=None)
@given(steps=ops, torn=st.booleans(), seed=st.integers(0, 2**16))
def test_reads_are_exact_and_a_cut_keeps_only_what_was_flushed(tmp_path_factory, steps, torn, seed):
    root = tmp_path_factory.mktemp("lossy")
    state = fresh(root)
    logical, durable = bytearray(), bytearray()
    for step in steps:
        if step[0] == "write":
            _, off, data = step
            if len(logical) < off:
                logical += bytes(off - len(logical))
            logical[off:off + len(data)] = data
            state.write("/f", data, off)
        elif step[0] == "truncate":
            n = step[1]
            logical = logical[:n] + bytes(max(0, n - len(logical)))
            state.truncate("/f", n)
        else:
            state.fsync("/f")
            durable = bytearray(logical)
            assert (root / "f").read_bytes() == durable
        assert state.size("/f") == len(logical)
        assert state.read("/f", 10 * PAGE, 0) == bytes(logical)
    state.cut("torn" if torn else "drop", seed)
    media = (root / "f").read_bytes()
    if not torn:
        assert media == bytes(durable)
        return
    # torn: every byte is one that was flushed or written there since (or a hole's zero);
    # nothing is invented, and a sector persists whole or not at all
    for i, b in enumerate(media):
        allowed = {0}
        if i < len(durable):
            allowed.add(durable[i])
        if i < len(logical):
            allowed.add(logical[i])
        assert b in allowed, f"byte {i} invented"
    for start in range(0, min(len(media), len(logical), len(durable)), SECTOR):
        got, old, new = (bytes(x[start:start + SECTOR]) for x in (media, durable, logical))
        n = min(len(got), len(old), len(new))
        assert got[:n] in (old[:n], new[:n]), f"sector at {start} is torn inside"


def test_new_names_and_unlinks_need_a_directory_fsync(tmp_path):
    state = fresh(tmp_path)
    state.fsyncdir("/")                       # "/f" is durable
    (tmp_path / "g").write_bytes(b"")
    state.created("/g")
    state.write("/g", b"data", 0)
    state.fsync("/g")                         # the content is flushed, the name is not
    state.unlink("/f")
    assert not (tmp_path / "f").exists()
    state.cut()
    assert (tmp_path / "f").exists(), "an unlink not made durable came back"
    assert not (tmp_path / "g").exists(), "a name never made durable survived"
    (tmp_path / "h").write_bytes(b"")
    state.created("/h")
    state.write("/h", b"kept", 0)
    state.fsync("/h")
    state.fsyncdir("/")
    state.cut()
    assert (tmp_path / "h").read_bytes() == b"kept"


def test_a_clean_cut_drops_unflushed_writes_and_reports_them(tmp_path):
    state = fresh(tmp_path)
    state.fsyncdir("/")
    state.write("/f", b"a" * 3000, 0)
    state.fsync("/f")
    state.write("/f", b"b" * 3000, 1000)
    assert state.read("/f", 5000, 0) == b"a" * 1000 + b"b" * 3000
    report = state.cut()
    assert report["dropped_sectors"] > 0
    assert (tmp_path / "f").read_bytes() == b"a" * 3000
