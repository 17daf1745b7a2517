"""The index on disk: pages, chunks, vectors, FAISS and BM25, with a manifest; written atomically.

Layout of an index folder::

    index/
      current -> builds/20261128T061500Z-1a2b3c   (symlink, swapped atomically)
      builds/<build id>/manifest.json, pages.jsonl, chunks.jsonl, units.npz, vectors.npz,
                        chunks.faiss, bm25/

A build is written to ``builds/.tmp-*`` and renamed into place; ``current`` is then replaced with
``os.replace`` (atomic on POSIX). A crash mid-build leaves the previous index untouched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.domain import Chunk, Heading, Page, Span
from qa.errors import IndexMismatchError, IndexNotFoundError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
UNIT_SENTENCE = 0
UNIT_HEADING = 1


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


def write_index(data: IndexData, index_dir: Path, build_id: str, keep: int = 2) -> Path:
    """Write ``data`` as a new build under ``index_dir`` and make it current, atomically."""
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
        # The manifest goes last: a build folder without one is incomplete by definition.
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        final = builds / build_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f".current-{build_id}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(Path("builds") / build_id)
    os.replace(link_tmp, index_dir / "current")
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
    """The folder of the current build (``index_dir/current``, or ``index_dir`` itself if it is one)."""
    if (index_dir / "manifest.json").is_file():
        return index_dir
    cur = index_dir / "current"
    if cur.exists() and (cur / "manifest.json").is_file():
        return cur.resolve()
    raise IndexNotFoundError(
        f"No index found in {index_dir}. Build it first: clinicqa build-index --index {index_dir}"
    )


def read_manifest(index_dir: Path) -> dict[str, Any]:
    build = resolve_build(index_dir)
    try:
        manifest: dict[str, Any] = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise IndexMismatchError(
            f"The index manifest in {build} is unreadable ({err}); rebuild with clinicqa build-index."
        ) from err
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


def load_index(index_dir: Path, *, expect: dict[str, Any] | None = None) -> IndexData:
    """Load the current build; refuse it when ``expect`` (model, settings, corpus) does not match."""
    manifest = read_manifest(index_dir)
    build = Path(manifest["_path"])
    check_manifest(manifest, index_dir, expect)
    try:
        pages = tuple(
            page_from_json(json.loads(line))
            for line in (build / "pages.jsonl").read_text(encoding="utf-8").splitlines()
        )
        texts = {p.doc_id: p.text for p in pages}
        chunks: list[Chunk] = []
        chunk_units: list[np.ndarray] = []
        heads: list[int] = []
        for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            chunks.append(chunk_from_json(row, texts[row["doc_id"]]))
            chunk_units.append(np.asarray(row["units"], dtype=np.int64))
            heads.append(int(row["heading_unit"]))
        units = np.load(build / "units.npz")
        vectors = np.load(build / "vectors.npz")
        index = faiss.read_index(str(build / "chunks.faiss"))
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise IndexMismatchError(f"The index in {build} is damaged ({err}); rebuild it.") from err
    return IndexData(
        manifest=manifest, pages=pages, chunks=tuple(chunks),
        chunk_vectors=vectors["chunk"], chunk_keys=vectors["chunk_keys"],
        unit_doc=units["doc"], unit_start=units["start"], unit_end=units["end"], unit_kind=units["kind"],
        unit_vectors=vectors["unit"], unit_keys=vectors["unit_keys"],
        chunk_units=tuple(chunk_units), chunk_heading_unit=np.asarray(heads, dtype=np.int64),
        faiss_index=index,
    )
