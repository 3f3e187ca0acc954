"""The official on-disk formats (paper code release) and the query sources.

* training data: ``{example_id: [{"prompt", "response", "example_id"}, ...]}`` (record i = constitution i's training
  prompt and the response written under it; record 0 the positive constitution);
* eval responses: ``{"constitution": {idx: str}, "question": {idx: str}, "response": {idx: str}}``;
* win rates: a list of ``[score in {0, 0.5, 1}, len_base, len_test]``;
* queries: TL;DR (``openai/summarize_from_feedback``, "comparisons" rows with ``info.post``, de-duplicated by
  ``info.id``, as JSON lines or a JSON list), HH-RLHF (``Anthropic/hh-rlhf`` rows with ``chosen``; the first
  "Human:" turn is the query) and a plain JSON list of query strings (or ``{"queries": [...]}``);
* Hugging Face datasets from local caches only, never downloaded: ``hf:<repo id>[:<subset>]:<split>`` (for example
  ``hf:Anthropic/hh-rlhf:helpful-base:train`` or ``hf:openai/summarize_from_feedback:comparisons:validation``) reads
  the split from a local folder of that name (a snapshot of the dataset repository), the hub cache
  (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``: ``datasets--<owner>--<name>/
  snapshots/*/``) or the ``datasets`` library's cache (``$HF_DATASETS_CACHE``, else ``$HF_HOME/datasets``:
  ``<owner>___<name>/<subset>/*/*/<name>-<split>*.arrow``); files are JSON lines (gzipped or not), JSON, Parquet or
  Arrow.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = [
    "Example",
    "QuerySource",
    "hf_dataset_files",
    "hh_query",
    "load_eval_responses",
    "load_queries",
    "load_test_rows",
    "load_training_data",
    "save_eval_responses",
    "save_training_data",
]

QuerySource = Literal["queries", "tldr", "hh"]


@dataclass
class Example:
    """One query's training example: C training prompts and the C responses written under them (same order)."""

    example_id: str
    prompts: list[str]
    responses: list[str]


def _read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise DataNotFoundError(what, path.parent, missing=[path.name])
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFormatError(path, f"not a JSON file ({err.__class__.__name__}: {err})") from None


def load_training_data(path: str | Path) -> list[Example]:
    """Official SAMI training data (dict keyed by example id, each a list of C >= 2 records)."""
    path = Path(path)
    obj = _read_json(path, "SAMI training data")
    expected = '{"<example id>": [{"prompt": str, "response": str, "example_id": ...}, ...], ...}'
    if not isinstance(obj, dict) or not obj:
        raise DataFormatError(
            path, f"the top level is a {type(obj).__name__}, not a non-empty object", expected=expected
        )
    out = []
    for key, records in obj.items():
        if not isinstance(records, list) or len(records) < 2:
            raise DataFormatError(path, f"key {key!r} is not a list of >= 2 records (one per constitution)",
                                  expected=expected)  # fmt: skip
        prompts, responses = [], []
        for k, r in enumerate(records):
            if (
                not isinstance(r, dict)
                or not isinstance(r.get("prompt"), str)
                or not isinstance(r.get("response"), str)
            ):
                raise DataFormatError(path, f"key {key!r}, record {k}: needs string fields 'prompt' and 'response'",
                                      expected=expected)  # fmt: skip
            prompts.append(r["prompt"])
            responses.append(r["response"])
        out.append(Example(str(key), prompts, responses))
    return out


def load_test_rows(path: str | Path) -> list[dict]:
    """A run's ``test_rows.json`` (written by ``sami test``): a list of per-query objects with string ``base`` and
    ``sami`` answers (and the query, constitution, win row and MI)."""
    path = Path(path)
    obj = _read_json(path, "SAMI test rows")
    expected = '[{"query": str, "base": str, "sami": str, ...}, ...] (a run folder\'s test_rows.json)'
    if not isinstance(obj, list) or not obj:
        raise DataFormatError(path, f"the top level is a {type(obj).__name__}, not a non-empty list", expected=expected)
    for k, r in enumerate(obj):
        if not isinstance(r, dict) or not isinstance(r.get("base"), str) or not isinstance(r.get("sami"), str):
            raise DataFormatError(path, f"row {k} needs string fields 'base' and 'sami'", expected=expected)
    return obj


def save_training_data(examples: Sequence[Example], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {
        ex.example_id: [
            {"prompt": p, "response": r, "example_id": ex.example_id} for p, r in zip(ex.prompts, ex.responses)
        ]
        for ex in examples
    }
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    return path


def save_eval_responses(constitutions: Sequence[str], questions: Sequence[str], responses: Sequence[str],
                        path: str | Path) -> Path:  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {
        "constitution": {str(k): c for k, c in enumerate(constitutions)},
        "question": {str(k): q for k, q in enumerate(questions)},
        "response": {str(k): r for k, r in enumerate(responses)},
    }
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    return path


def load_eval_responses(path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """(constitutions, questions, responses) of an official eval-responses file (HH's ``question_helpful`` /
    ``response_helpful`` style keys are accepted too)."""
    path = Path(path)
    obj = _read_json(path, "eval responses")
    if not isinstance(obj, dict):
        raise DataFormatError(path, "the top level is not an object", expected='{"question": {...}, "response": {...}}')
    q = next((k for k in obj if k.startswith("question")), None)
    r = next((k for k in obj if k.startswith("response")), None)
    if q is None or r is None or not isinstance(obj[q], dict) or not isinstance(obj[r], dict):
        raise DataFormatError(path, "needs objects 'question' and 'response' keyed by index")
    keys = sorted(obj[q], key=lambda k: int(k) if str(k).isdigit() else str(k))
    cons = obj.get("constitution", {})
    return [cons.get(k, "") for k in keys], [obj[q][k] for k in keys], [obj[r].get(k, "") for k in keys]


def hh_query(chosen: str) -> str:
    """The first Human turn of an HH-RLHF dialogue."""
    text = chosen.split("Human:", 1)[-1]
    return text.split("Assistant:", 1)[0].strip()


HF_PREFIX = "hf:"
_DATA_SUFFIXES = (".jsonl.gz", ".jsonl", ".json.gz", ".json", ".parquet", ".arrow")


def _hf_spec(spec: str) -> tuple[str, str | None, str]:
    parts = spec[len(HF_PREFIX) :].split(":")
    if len(parts) not in (2, 3) or not all(parts) or "/" not in parts[0]:
        raise DataFormatError(Path(spec), "not a dataset name", expected="hf:<owner>/<name>[:<subset>]:<split>")
    return parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]


def _split_files(folder: Path, split: str) -> list[Path]:
    """Data files of ``split`` in a folder: ``<split>.jsonl.gz``, ``<split>-00000-of-00002.parquet``,
    ``<name>-<split>.arrow``, or any data file under ``<split>/``."""
    if (folder / split).is_dir():
        return sorted(f for f in (folder / split).rglob("*") if f.name.endswith(_DATA_SUFFIXES))
    out = []
    for f in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not f.is_file() or not f.name.endswith(_DATA_SUFFIXES):
            continue
        stem = f.name.split(".", 1)[0]
        tokens = stem.split("-")
        if tokens[0] == split or (split in tokens[1:] and not tokens[0].isdigit()):
            out.append(f)
    return out


def hf_dataset_files(spec: str) -> list[Path]:
    """The local data files of ``hf:<repo id>[:<subset>]:<split>`` (see the module docstring); never downloads."""
    repo, subset, split = _hf_spec(spec)
    owner, name = repo.split("/", 1)
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    dcache = Path(os.environ.get("HF_DATASETS_CACHE", home / "datasets"))
    roots = [Path(repo), *sorted((hub / f"datasets--{owner}--{name}" / "snapshots").glob("*"), reverse=True)]
    looked = []
    for root in roots:
        for folder in [root / subset, root] if subset else [root]:
            looked.append(str(folder))
            files = _split_files(folder, split)
            if files:
                return files
    for folder in sorted((dcache / f"{owner}___{name}" / (subset or "default")).glob("*/*")):
        looked.append(str(folder))
        files = [f for f in _split_files(folder, split) if f.suffix == ".arrow"]
        if files:
            return files
    raise DataNotFoundError(
        f"{repo} (subset {subset or '-'}, split {split})",
        hub,
        missing=[
            f"datasets--{owner}--{name}/snapshots/*/{subset + '/' if subset else ''}{split}*",
            f"{owner}___{name}",
        ],
        source=f"https://huggingface.co/datasets/{repo} (nothing is downloaded here)",
        hint="Looked in " + ", ".join(looked[:4]) + (" ..." if len(looked) > 4 else "") + f" and {dcache}. Fetch it "
        "once on a machine with network (`huggingface-cli download --repo-type dataset` or `datasets.load_dataset`), "
        "copy the cache or a local folder of that name, or pass a local JSON-lines file.",
    )


def _file_rows(path: Path) -> list:
    """Rows of one data file (JSON lines, JSON, gzipped or not; Parquet; Arrow)."""
    if path.suffix in (".parquet", ".arrow"):
        import pyarrow as pa

        try:
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                return pq.read_table(path).to_pylist()
            with pa.memory_map(str(path)) as src:
                try:
                    return pa.ipc.open_stream(src).read_all().to_pylist()
                except pa.ArrowInvalid:
                    return pa.ipc.open_file(src).read_all().to_pylist()
        except (pa.ArrowInvalid, OSError) as err:
            raise DataFormatError(path, f"not a readable {path.suffix[1:]} file ({err})") from None
    if path.name.endswith(".gz"):
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise DataFormatError(path, f"not gzipped UTF-8 text ({err})") from None
        return _text_rows(path, text)
    return _rows(path)


def _rows_by_file(path: Path) -> list[tuple[Path, list]]:
    """[(file, its rows)]: one file, or every local data file of an ``hf:`` dataset split."""
    if str(path).startswith(HF_PREFIX):
        return [(f, _file_rows(f)) for f in hf_dataset_files(str(path))]
    return [(path, _rows(path))]


def _rows(path: Path) -> list:
    if path.suffix in (".parquet", ".arrow") or path.name.endswith(".gz"):
        if not path.is_file():
            raise DataNotFoundError("queries", path.parent, missing=[path.name])
        return _file_rows(path)
    if not path.is_file():
        raise DataNotFoundError("queries", path.parent, missing=[path.name])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(path, "not UTF-8 text (expected JSON or JSON lines)") from None
    return _text_rows(path, text)


def _text_rows(path: Path, text: str) -> list:
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, list) else [obj]
    except json.JSONDecodeError:
        pass
    rows = []
    for n, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataFormatError(
                    path, f"line {n + 1} is not JSON ({err})", expected="JSON or JSON lines"
                ) from None
    return rows


def load_queries(path: str | Path, source: QuerySource = "queries") -> list[str]:
    """Queries from a local file or an ``hf:`` dataset split: ``queries`` (a JSON list of strings or
    {"queries": [...]}), ``tldr`` (comparison rows with ``info.post``; the query is "POST: <post>", de-duplicated by
    ``info.id``) or ``hh`` (rows with ``chosen``; the first Human turn)."""
    path = Path(path)
    files = _rows_by_file(path)
    if source == "queries":
        rows = [r for _, rs in files for r in rs]
        if len(rows) == 1 and isinstance(rows[0], dict) and isinstance(rows[0].get("queries"), list):
            rows = rows[0]["queries"]
        if not rows or not all(isinstance(r, str) for r in rows):
            raise DataFormatError(path, "not a list of query strings", expected='["query", ...] or {"queries": [...]}')
        return list(rows)
    out, seen = [], set()
    for path, n, r in ((f, n, r) for f, rs in files for n, r in enumerate(rs)):
        if source == "tldr":
            info = r.get("info") if isinstance(r, dict) else None
            if not isinstance(info, dict) or not isinstance(info.get("post"), str):
                raise DataFormatError(path, f"row {n} has no 'info.post'", expected="summarize_from_feedback rows")
            key = info.get("id", info["post"])
            if key not in seen:
                seen.add(key)
                out.append(f"POST: {info['post'].strip()}")
        else:
            if not isinstance(r, dict) or not isinstance(r.get("chosen"), str):
                raise DataFormatError(path, f"row {n} has no 'chosen' dialogue", expected="hh-rlhf rows")
            out.append(hh_query(r["chosen"]))
    if not out:
        raise DataFormatError(path, "no queries in the file")
    return out
