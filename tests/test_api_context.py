"""POST /v1/ask with ``context`` (issue 13): accepted, validated (422), a soft preference that a named
procedure overrides, follow-ups read against the history, the answer cache keyed on the resolution and the
question log holding each question once — never the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine
from qa.settings import PROJECT_ROOT, Settings

TOKEN = "test-admin-token-0123456789"
ILIO = "iliopsoas-injection"
WEAK = "Occasionally, you leg may feel heavy or weak for a few hours."


@pytest.fixture
def client(tmp_path: Path, clinic_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings = Settings(index_dir=Path(clinic_settings.index_dir), corpus_dir=PROJECT_ROOT / "corpus",
                        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}", admin_token=TOKEN,
                        rate_limit_per_minute=0)
    with TestClient(create_app(settings, engine)) as c:
        yield c


def ask(client: TestClient, question: str, **body: Any) -> Any:
    return client.post("/v1/ask", json={"question": question, **body})


def test_context_is_accepted_and_a_follow_up_is_read_against_the_history(client: TestClient) -> None:
    alone = ask(client, "how long does that last?").json()
    assert alone["abstained"]
    r = ask(client, "how long does that last?",
            context={"procedure": ILIO, "history": ["will my leg feel weak after the iliopsoas injection?"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["abstained"] and body["answer"]["text"] == WEAK
    assert body["question"] == "how long does that last?"  # the patient's own question is echoed


def test_the_answer_says_how_the_question_was_read_in_its_context(client: TestClient) -> None:
    follow_up = ask(client, "how long does that last?",
                    context={"procedure": ILIO, "history": ["will my leg feel weak?"]}).json()
    assert follow_up["reading"]["procedure"] == ILIO and follow_up["reading"]["follow_up"] is True
    assert {"leg", "weak"} <= set(follow_up["reading"]["carried"])
    page = ask(client, "what should i wear?", context={"procedure": ILIO}).json()
    assert page["reading"] == {"procedure": ILIO, "source": "page", "follow_up": False, "carried": []}
    named = ask(client, "what should i wear for a genicular nerve block?", context={"procedure": ILIO}).json()
    assert named["reading"]["procedure"] == "genicular-nerve-block" and named["reading"]["source"] == "question"
    assert ask(client, "what should i wear?").json()["reading"] is None  # no context, nothing to say


def test_a_named_procedure_overrides_the_page_preference_but_not_a_hard_filter(client: TestClient) -> None:
    question = "will my knee be bruised after a genicular nerve block?"
    soft = ask(client, question, context={"procedure": ILIO}).json()
    assert not soft["abstained"] and soft["answer"]["doc_id"] == "genicular-nerve-block"
    hard = ask(client, question, filters={"procedure": ILIO}).json()
    assert hard["abstained"]  # filters keep their hard meaning


@pytest.mark.parametrize(("context", "message"), [
    ({"procedure": "hip-replacement"}, "Unknown procedure 'hip-replacement'"),
    ({"history": ["q?"] * 6}, "at most 5"),
    ({"history": ["x" * 501]}, "at most 500"),
    ({"history": [""]}, "history"),
    ({"history": "will my leg feel weak?"}, "history"),
    ({"procedure": ILIO, "thread": []}, "thread"),
])
def test_a_bad_context_is_a_422_saying_what_is_wrong(client: TestClient, context: dict[str, Any],
                                                       message: str) -> None:
    r = ask(client, "is it painful?", context=context)
    assert r.status_code == 422, r.text
    body = r.json()
    assert message in body["detail"] or any(message in str(e) for e in body.get("errors") or []), body


def test_the_answer_cache_keeps_contexts_apart(client: TestClient) -> None:
    first = ask(client, "how long does that last?").json()
    followed = ask(client, "how long does that last?", context={"history": ["will my leg feel weak?"]}).json()
    assert not followed["cached"] and followed["abstained"] != first["abstained"]
    again = ask(client, "how long does that last?", context={"history": ["will my leg feel weak?"]}).json()
    assert again["cached"] and again["answer"] == followed["answer"]
    other = ask(client, "how long does that last?", context={"history": ["will my knee be sore?"],
                                                             "procedure": "genicular-nerve-block"}).json()
    assert not other["cached"]


def test_the_log_holds_each_question_once_never_the_history(client: TestClient) -> None:
    ask(client, "will my leg feel weak?", context={"procedure": ILIO})
    ask(client, "how long does that last?", context={"procedure": ILIO, "history": ["will my leg feel weak?"]})
    assert client.app.state.service.writer.flush(10)  # type: ignore[attr-defined]
    items = client.get("/v1/admin/questions", headers={"Authorization": f"Bearer {TOKEN}"}).json()["items"]
    assert [i["question"] for i in items] == ["how long does that last?", "will my leg feel weak?"]


def test_openapi_documents_the_context_with_examples_and_the_known_procedures(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    context = schema["components"]["schemas"]["AskContext"]
    assert context["properties"]["history"]["maxItems"] == 5
    assert context["properties"]["history"]["items"]["maxLength"] == 500
    procedure = next(b for b in context["properties"]["procedure"]["anyOf"] if b.get("type") == "string")
    assert ILIO in procedure["enum"] and "general" not in procedure["enum"]
    examples = schema["components"]["schemas"]["AskRequest"]["examples"]
    assert any("context" in e and e["context"].get("history") for e in examples)
