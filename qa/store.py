"""The index on disk: pages, chunks, vectors, FAISS and BM25, with a manifest; written atomically.

Layout of an index folder::

    index/
      current -> builds/20261128T061500Z-1a2b3c   (symlink, swapped atomically)
      builds/<build id>/manifest.json, pages.jsonl, chunks.jsonl, units.npz, vectors.npz,
                        chunks.faiss

(BM25 is built in memory from the chunks when the index loads.) A build is written to ``builds/.tmp-*``
and renamed into place; ``current`` is then replaced with ``os.replace`` (atomic on POSIX). A crash
mid-build leaves the previous index untouched. Every file is fsync'd before the rename, and the folders
after it and after the swap, so a power cut cannot leave ``current`` pointing at a half-written build.

The manifest (written last) records each data file's size and SHA-256; loading checks them, then that the
files agree with each other (counts, dimensions, offsets). Anything wrong raises
:class:`~qa.errors.IndexDamagedError`, one line saying what and how to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from qa.domain import Chunk, Heading, Page, Span
from qa.errors import ClinicQAError, IndexDamagedError, IndexMismatchError, IndexNotFoundError

if TYPE_CHECKING:
    from qa.lexical import Lexicon

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
UNIT_SENTENCE = 0
UNIT_HEADING = 1
LEXICON_DIR = "lexicon"  # the BM25 weights (qa.lexical.Lexicon.save); builds before issue 16 have none
DATA_FILES = ("pages.jsonl", "chunks.jsonl", "units.npz", "vectors.npz", "chunks.faiss")
# Written only when the build has multilingual sentence vectors (qa/multilingual.py); then checked like the rest.
MULTILINGUAL_FILE = "multilingual.npz"


@dataclass(frozen=True)
class IndexData:
    """Everything a query needs, in memory."""

    manifest: dict[str, Any]
    pages: tuple[Page, ...]
    chunks: tuple[Chunk, ...]
    chunk_vectors: np.ndarray  # (n_chunks, dim) float32, L2-normalised
    chunk_keys: np.ndarray  # (n_chunks,) content keys of the embedded inputs (for incremental builds)
    unit_doc: np.ndarray  # (n_units,) page index of each sentence/heading unit
    unit_start: np.ndarray
    unit_end: np.ndarray
    unit_kind: np.ndarray  # UNIT_SENTENCE or UNIT_HEADING
    unit_vectors: np.ndarray  # (n_units, dim)
    unit_keys: np.ndarray
    chunk_units: tuple[np.ndarray, ...]  # per chunk: unit indices of its sentences, in order
    chunk_heading_unit: np.ndarray  # per chunk: unit index of its heading, or -1
    faiss_index: faiss.Index
    # Per unit: its vector from the multilingual model (questions in Tamil and Hindi), or None when the index
    # was built without them (multilingual off, or a corpus above multilingual_index_max_sentences).
    ml_vectors: np.ndarray | None = None
    ml_keys: np.ndarray | None = None

    @property
    def path(self) -> Path | None:
        p = self.manifest.get("_path")
        return Path(p) if p else None


# --- (de)serialising pages and chunks ------------------------------------------------------------


def page_to_json(page: Page) -> dict[str, Any]:
    d = asdict(page)
    d["headings"] = [[h.start, h.end, h.level] for h in page.headings]
    d["last_reviewed"] = page.last_reviewed.isoformat() if page.last_reviewed else None
    return d


def page_from_json(d: dict[str, Any]) -> Page:
    return Page(
        doc_id=d["doc_id"], title=d["title"], text=d["text"], source=d["source"], url=d.get("url"),
        headings=tuple(Heading(*h) for h in d.get("headings", [])),
        procedure=d.get("procedure"), category=d.get("category"),
        last_reviewed=date.fromisoformat(d["last_reviewed"]) if d.get("last_reviewed") else None,
        synthetic=bool(d.get("synthetic", False)),
    )


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end,
        "section": chunk.section, "position": chunk.position,
        "sentences": [[s.start, s.end] for s in chunk.sentences],
        "heading": [chunk.heading.start, chunk.heading.end] if chunk.heading else None,
    }


def chunk_from_json(d: dict[str, Any], page_text: str) -> Chunk:
    return Chunk(
        chunk_id=d["chunk_id"], doc_id=d["doc_id"], start=d["start"], end=d["end"],
        text=page_text[d["start"] : d["end"]], section=d["section"],
        sentences=tuple(Span(s, e) for s, e in d["sentences"]),
        heading=Span(*d["heading"]) if d.get("heading") else None, position=d.get("position", 0),
    )


# --- FAISS ---------------------------------------------------------------------------------------


def make_faiss_index(vectors: np.ndarray, exact_max: int) -> faiss.Index:
    """Exact inner-product search for small corpora; HNSW above ``exact_max`` vectors."""
    dim = vectors.shape[1]
    if len(vectors) <= exact_max:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = 128
        index = hnsw
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


# --- writing -------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's: its entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_index(data: IndexData, index_dir: Path, build_id: str, keep: int = 2,
                lexicon: Lexicon | None = None) -> Path:
    """Write ``data`` as a new build under ``index_dir`` and make it current, atomically and durably;
    with ``lexicon`` (the BM25 weights of its chunks) in ``lexicon/``, so that loading need not rebuild it."""
    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=builds))
    try:
        manifest = {k: v for k, v in data.manifest.items() if not k.startswith("_")}
        with open(tmp / "pages.jsonl", "w", encoding="utf-8") as f:
            for p in data.pages:
                f.write(json.dumps(page_to_json(p), ensure_ascii=False) + "\n")
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c, units, head in zip(data.chunks, data.chunk_units, data.chunk_heading_unit, strict=True):
                row = chunk_to_json(c)
                row["units"] = [int(u) for u in units]
                row["heading_unit"] = int(head)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        np.savez(tmp / "units.npz", doc=data.unit_doc, start=data.unit_start, end=data.unit_end,
                 kind=data.unit_kind)
        np.savez(tmp / "vectors.npz", chunk=data.chunk_vectors, chunk_keys=data.chunk_keys,
                 unit=data.unit_vectors, unit_keys=data.unit_keys)
        faiss.write_index(data.faiss_index, str(tmp / "chunks.faiss"))
        names: list[str] = list(DATA_FILES)
        if data.ml_vectors is not None:
            np.savez(tmp / MULTILINGUAL_FILE, unit=data.ml_vectors,
                     unit_keys=data.ml_keys if data.ml_keys is not None else np.asarray([], dtype=str))
            names.append(MULTILINGUAL_FILE)
        if lexicon is not None:
            names += [f"{LEXICON_DIR}/{n}" for n in lexicon.save(tmp / LEXICON_DIR)]
            _fsync(tmp / LEXICON_DIR)
        files: dict[str, dict[str, Any]] = {}
        for name in names:
            _fsync(tmp / name)
            files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": file_digest(tmp / name)}
        manifest["files"] = files
        # The manifest goes last: a build folder without one is incomplete by definition.
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        _fsync(tmp)  # the build folder's entries
        final = builds / build_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(builds)  # the rename
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f".current-{build_id}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(Path("builds") / build_id)
    os.replace(link_tmp, index_dir / "current")
    _fsync(index_dir)  # the swap of ``current``
    _prune(builds, keep=keep, current=build_id)
    log.info("index %s written to %s", build_id, final)
    return final


def _prune(builds: Path, keep: int, current: str) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)
    for old in done[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):  # left by a crashed build
        shutil.rmtree(tmp, ignore_errors=True)


# --- reading -------------------------------------------------------------------------------------


def resolve_build(index_dir: Path) -> Path:
    """The folder of the current build (``index_dir/current``, or ``index_dir`` itself if it is one).

    IndexNotFoundError when nothing was ever built there; IndexDamagedError when ``current`` exists but
    its build folder or manifest is gone."""
    if (index_dir / "manifest.json").is_file():
        return index_dir
    cur = index_dir / "current"
    if cur.exists() and (cur / "manifest.json").is_file():
        return cur.resolve()
    if cur.is_symlink():
        problem = "manifest.json is missing" if cur.exists() else "its build folder is missing"
        raise IndexDamagedError(cur, problem, index_dir)
    raise IndexNotFoundError(
        f"No index found in {index_dir}. Build it first: clinicqa build-index --index {index_dir}"
    )


def read_manifest(index_dir: Path) -> dict[str, Any]:
    build = resolve_build(index_dir)
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IndexDamagedError(build, f"manifest.json: {err}", index_dir) from err
    if not isinstance(manifest, dict):
        raise IndexDamagedError(build, "manifest.json is not a JSON object", index_dir)
    manifest["_path"] = str(build)
    return manifest


def check_manifest(manifest: dict[str, Any], index_dir: Path, expect: dict[str, Any] | None = None) -> None:
    """Raise IndexMismatchError when the build's format, or any ``expect`` value (model, settings), differs."""
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {manifest.get('_path', index_dir)} has format {manifest.get('format')}, this version "
            f"reads {FORMAT_VERSION}; rebuild it with clinicqa build-index."
        )
    for key, want in (expect or {}).items():
        have = manifest.get(key)
        if have != want:
            raise IndexMismatchError(
                f"The index in {index_dir} was built with {key}={have!r} but the current setting is "
                f"{want!r}. Rebuild it: clinicqa build-index --index {index_dir}"
            )


def verify_files(manifest: dict[str, Any], index_dir: Path) -> None:
    """Raise IndexDamagedError when a data file of the build is missing, or its size or SHA-256 is not
    what the manifest recorded when it was written (builds of older versions record none: existence only)."""
    build = Path(manifest["_path"])
    recorded = manifest.get("files")
    optional = ([n for n in recorded if n == MULTILINGUAL_FILE or n.startswith(f"{LEXICON_DIR}/")]
                if isinstance(recorded, dict) else [])
    for name in (*DATA_FILES, *optional):
        path = build / name
        try:
            size = path.stat().st_size
            want = recorded.get(name) if isinstance(recorded, dict) else None
            if want is None:
                continue
            if size != want.get("bytes"):
                raise IndexDamagedError(build, f"{name} has {size} bytes, {want.get('bytes')} were written",
                                        index_dir)
            if file_digest(path) != want.get("sha256"):
                raise IndexDamagedError(build, f"{name} does not match its checksum", index_dir)
        except OSError as err:
            raise IndexDamagedError(build, f"{name}: {err.strerror or err}", index_dir) from err


# What reading a damaged file can raise: numpy and zipfile (truncated .npz), zlib, json, FAISS (RuntimeError).
_READ_ERRORS = (OSError, EOFError, KeyError, IndexError, TypeError, ValueError, RuntimeError,
                zipfile.BadZipFile, zlib.error)


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of ``path`` read now (np.load of an .npz is lazy: a damaged member fails on access)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in keys}


def load_index(index_dir: Path, *, expect: dict[str, Any] | None = None) -> IndexData:
    """Load the current build; refuse it when ``expect`` (model, settings, corpus) does not match, and
    raise IndexDamagedError when any of its files is missing, unreadable, truncated or inconsistent."""
    manifest = read_manifest(index_dir)
    build = Path(manifest["_path"])
    check_manifest(manifest, index_dir, expect)
    verify_files(manifest, index_dir)
    current = "pages.jsonl"
    try:
        pages = tuple(
            page_from_json(json.loads(line))
            for line in (build / "pages.jsonl").read_text(encoding="utf-8").splitlines()
        )
        texts = {p.doc_id: p.text for p in pages}
        chunks: list[Chunk] = []
        chunk_units: list[np.ndarray] = []
        heads: list[int] = []
        current = "chunks.jsonl"
        for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            chunks.append(chunk_from_json(row, texts[row["doc_id"]]))
            chunk_units.append(np.asarray(row["units"], dtype=np.int64))
            heads.append(int(row["heading_unit"]))
        current = "units.npz"
        units = _load_npz(build / "units.npz", ("doc", "start", "end", "kind"))
        current = "vectors.npz"
        vectors = _load_npz(build / "vectors.npz", ("chunk", "chunk_keys", "unit", "unit_keys"))
        current = "chunks.faiss"
        index = faiss.read_index(str(build / "chunks.faiss"))
        ml: dict[str, np.ndarray] = {}
        if MULTILINGUAL_FILE in (manifest.get("files") or {}):
            current = MULTILINGUAL_FILE
            ml = _load_npz(build / MULTILINGUAL_FILE, ("unit", "unit_keys"))
    except ClinicQAError:
        raise
    except _READ_ERRORS as err:
        raise IndexDamagedError(build, f"{current}: {type(err).__name__}: {err}", index_dir) from err
    data = IndexData(
        manifest=manifest, pages=pages, chunks=tuple(chunks),
        chunk_vectors=vectors["chunk"], chunk_keys=vectors["chunk_keys"],
        unit_doc=units["doc"], unit_start=units["start"], unit_end=units["end"], unit_kind=units["kind"],
        unit_vectors=vectors["unit"], unit_keys=vectors["unit_keys"],
        chunk_units=tuple(chunk_units), chunk_heading_unit=np.asarray(heads, dtype=np.int64),
        faiss_index=index, ml_vectors=ml.get("unit"), ml_keys=ml.get("unit_keys"),
    )
    problem = inconsistency(data)
    if problem:
        raise IndexDamagedError(build, problem, index_dir)
    return data


def inconsistency(data: IndexData) -> str | None:
    """What does not add up between the files of a loaded build (None when everything does)."""
    n_chunks, n_units = len(data.chunks), len(data.unit_start)
    counts = data.manifest.get("counts") or {}
    dim = data.manifest.get("dimension")
    if counts.get("pages", len(data.pages)) != len(data.pages):
        return f"pages.jsonl has {len(data.pages)} pages, the manifest says {counts.get('pages')}"
    if counts.get("chunks", n_chunks) != n_chunks:
        return f"chunks.jsonl has {n_chunks} chunks, the manifest says {counts.get('chunks')}"
    if not len(data.unit_doc) == n_units == len(data.unit_end) == len(data.unit_kind):
        return "units.npz: its arrays differ in length"
    if data.chunk_vectors.ndim != 2 or data.chunk_vectors.shape[0] != n_chunks or len(data.chunk_keys) != n_chunks:
        return f"vectors.npz has {len(data.chunk_vectors)} chunk vectors for {n_chunks} chunks"
    if data.unit_vectors.ndim != 2 or data.unit_vectors.shape[0] != n_units or len(data.unit_keys) != n_units:
        return f"vectors.npz has {len(data.unit_vectors)} sentence vectors for {n_units} sentences and headings"
    if dim is not None and (data.chunk_vectors.shape[1] != dim or data.unit_vectors.shape[1] != dim):
        return f"vectors.npz: vectors of dimension {data.chunk_vectors.shape[1]}, the manifest says {dim}"
    if data.faiss_index.ntotal != n_chunks or data.faiss_index.d != data.chunk_vectors.shape[1]:
        return f"chunks.faiss holds {data.faiss_index.ntotal} vectors for {n_chunks} chunks"
    used = [u for u in data.chunk_units if len(u)]
    if (used and (min(int(u.min()) for u in used) < 0 or max(int(u.max()) for u in used) >= n_units)) or \
            (len(data.chunk_heading_unit) and int(data.chunk_heading_unit.max()) >= n_units):
        return "chunks.jsonl refers to sentences that units.npz does not have"
    if n_units and (int(data.unit_doc.min()) < 0 or int(data.unit_doc.max()) >= len(data.pages)):
        return "units.npz refers to pages that pages.jsonl does not have"
    if data.ml_vectors is not None and (data.ml_vectors.ndim != 2 or data.ml_vectors.shape[0] != n_units):
        return f"{MULTILINGUAL_FILE} has {len(data.ml_vectors)} vectors for {n_units} sentences and headings"
    return None
