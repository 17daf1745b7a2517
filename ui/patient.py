"""The patient chat (the website widget): public, no sign-in.

Every answer comes from ``Service.ask`` — the same object, cache, rate limits and question log as
``POST /v1/ask`` — and the thumbs on each answer go through ``Service.feedback``, like ``POST
/v1/feedback``, tied to that answer's ``answer_id``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.context import MAX_HISTORY, Context
from qa.errors import InputError
from qa.starters import answered_starters
from qa.text import strip_invisible
from ui.render import answer_html, esc

if TYPE_CHECKING:
    from api.service import Service

logger = logging.getLogger("clinicqa.ui")

STARTERS = 6
Message = dict[str, str]
ANY_PROCEDURE = ""  # the dropdown's value for "any procedure"


def _client(request: gr.Request | None) -> str:
    client = getattr(request, "client", None) if request is not None else None
    return getattr(client, "host", None) or "unknown"


def notice_html(service: Service) -> str:
    s = service.settings
    return (
        '<div class="cqa-header">'
        f"<h1>Ask {esc(s.clinic_name)}</h1>"
        f'<p class="cqa-disclaimer">General information from {esc(s.clinic_name)}\'s pages, not medical '
        "advice for you. Answers quote the clinic's pages word for word.</p>"
        f'<div class="cqa-notice"><strong>What we store:</strong> your question, with personal details '
        f"removed, for up to {s.retention_days} days."
        f'<details class="cqa-more"><summary>More about this</summary><p>{esc(s.privacy_notice_text())}</p>'
        "</details></div></div>"
    )


def status_html(text: str) -> str:
    return f'<p role="status" class="cqa-status">{esc(text)}</p>' if text else ""


class PatientChat:
    """The chat's event handlers, bound to one Service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._starters: tuple[str, list[str]] | None = None  # (index build id, starter questions)

    async def respond(self, message: str, history: list[Message], ids: dict[int, str], procedure: str | None,
                      asked: list[str], request: gr.Request
                      ) -> tuple[str, list[Message], list[Message], dict[int, str], str, list[str]]:
        """(cleared textbox, chat, history state, answer ids by message index, status line, the patient's
        previous questions). The procedure chosen above the chat and the previous questions (held by this
        browser session only, at most 5) are sent with the question as its context."""
        text = strip_invisible(message or "").strip()  # echoed below: no right-to-left override
        asked = list(asked or [])
        if not text:
            return message, history, history, ids, status_html("Type a question first, then press Enter."), asked
        service = self.service
        settings = service.settings
        limiter = service.limiters["ask"]
        wait = limiter.check(_client(request))
        if wait > 0:
            return message, history, history, ids, status_html(
                f"Too many questions in a short time; please wait {limiter.retry_after(wait)} seconds."), asked
        answer_id = ""
        context = (Context(procedure=procedure or None, history=tuple(asked[-MAX_HISTORY:]))
                   if procedure or asked else None)
        try:
            answer, _cached, _version = await service.ask(text, procedure=None, category=None,
                                                          audience="patient", context=context)
            reply = answer_html(answer, contact=settings.contact_message(), clinic_phone=settings.clinic_phone)
            answer_id = answer.answer_id
        except InputError as err:
            return message, history, history, ids, status_html(str(err)), asked
        except Exception as err:  # not ready, or a bug: say so, keep the chat usable
            logger.warning("patient chat: could not answer (%s)", type(err).__name__)
            reply = ('<div class="cqa-abstain"><p><strong>The assistant is not available right now.</strong>'
                     f"</p><p>{esc(settings.contact_message())}</p></div>")
        new = [*history, {"role": "user", "content": esc(text)}, {"role": "assistant", "content": reply}]
        new_ids = dict(ids)
        if answer_id:
            new_ids[len(new) - 1] = answer_id
        return "", new, new, new_ids, "", [*asked, text][-MAX_HISTORY:]

    def procedures(self) -> list[tuple[str, str]]:
        """(title, slug) of every procedure of the serving index, "Any procedure" first."""
        try:
            known = self.service.engine.procedures
        except Exception:  # no index loaded yet: only "any procedure"
            return [("Any procedure", ANY_PROCEDURE)]
        return [("Any procedure", ANY_PROCEDURE), *sorted((known.title(p), p) for p in known.known())]

    def page_context(self, request: gr.Request) -> tuple[Any, str]:
        """On page load: the procedure dropdown, set from the address's ``?procedure=`` when it names a
        known procedure; an unknown one is ignored with a note (never an error page)."""
        choices = self.procedures()
        params = dict(getattr(request, "query_params", None) or {}) if request is not None else {}
        wanted = strip_invisible(str(params.get("procedure", "") or "")).strip()[:100]
        known = {slug for _, slug in choices}
        note = ""
        if wanted and wanted not in known:
            note = status_html(f"This page's procedure ({wanted}) is not one the assistant knows about; "
                               "answering about any procedure. You can choose one above.")
            wanted = ANY_PROCEDURE
        return gr.update(choices=choices, value=wanted), note

    def change_procedure(self, procedure: str | None) -> tuple[list[str], str]:
        """A new procedure (or none) starts a new thread: forget the previous questions."""
        title = next((t for t, slug in self.procedures() if slug == (procedure or ANY_PROCEDURE)), "")
        text = (f"Now answering about {title}." if procedure else "Now answering about any procedure.")
        return [], status_html(text if title else "")

    async def feedback(self, ids: dict[int, str], data: gr.LikeData) -> str:
        """Store a thumbs up/down on the answer it was given to."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        answer_id = ids.get(index)
        if answer_id is None or not isinstance(data.liked, bool):
            return status_html("")
        from api.service import LogUnavailableError, UnknownAnswerError

        try:
            await self.service.feedback(answer_id, data.liked)
        except (LogUnavailableError, UnknownAnswerError) as err:
            return status_html(f"Your feedback could not be saved: {err}")
        return status_html("Thank you — your feedback was saved.")


    def starters(self) -> list[Any]:
        """Labels for the starter buttons, then the visibility of their row (on page load, so that a
        reindex or a late-loading index is reflected)."""
        try:
            engine = self.service.engine
            build = str(engine.manifest.get("build_id"))
            if self._starters is None or self._starters[0] != build:  # checked once per index build
                self._starters = (build, [s.question for s in answered_starters(engine, STARTERS)])
            texts = self._starters[1]
        except Exception:  # no index loaded yet: the chat works without suggestions
            texts = []
        buttons = [gr.update(value=texts[i], visible=True) if i < len(texts) else gr.update(visible=False)
                   for i in range(STARTERS)]
        return [*buttons, gr.update(visible=bool(texts))]


def build_patient_app(service: Service) -> gr.Blocks:
    chat = PatientChat(service)
    settings = service.settings
    with gr.Blocks(title=f"Ask {settings.clinic_name}", analytics_enabled=False) as demo:
        gr.HTML(notice_html(service))
        with gr.Row(equal_height=True, elem_classes="cqa-context"):
            procedure = gr.Dropdown(
                choices=chat.procedures(), value=ANY_PROCEDURE, label="Answering about", scale=5,
                elem_id="cqa-procedure", interactive=True, filterable=False,
            )
            clear_procedure = gr.Button("Clear procedure", size="sm", variant="secondary", scale=1, min_width=90,
                                        elem_id="cqa-procedure-clear")
        chatbot = gr.Chatbot(
            label="Conversation with the clinic assistant", buttons=["copy"], height=440,
            feedback_options=("Like", "Dislike"), elem_id="cqa-chat",
            placeholder="Ask about a procedure at the clinic: how to prepare, what to expect, risks.",
        )
        with gr.Row(equal_height=True):
            question = gr.Textbox(
                label="Your question", placeholder="For example: will my leg feel weak?", lines=1,
                max_length=settings.max_question_chars, scale=5, elem_id="cqa-question",
            )
            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="cqa-ask")
        status = gr.HTML("", elem_id="cqa-status")
        history = gr.State([])
        ids = gr.State({})
        asked = gr.State([])  # the patient's previous questions: this browser session only
        outputs: list[Any] = [question, chatbot, history, ids, status, asked]
        question.submit(chat.respond, [question, history, ids, procedure, asked], outputs, api_name="ask")
        ask.click(chat.respond, [question, history, ids, procedure, asked], outputs, api_visibility="private")
        with gr.Column(visible=False, elem_classes="cqa-starters") as starter_box:
            gr.HTML('<h2 style="font-size:1rem;margin:.4rem 0 0 0">Suggested questions</h2>')
            with gr.Row():
                buttons = [gr.Button("", size="sm", variant="secondary", visible=False) for _ in range(STARTERS)]
        for button in buttons:
            button.click(chat.respond, [button, history, ids, procedure, asked], outputs, api_visibility="private")
        chatbot.like(chat.feedback, [ids], [status], api_visibility="private")
        # The chat's clear button empties the conversation: forget its history, answer ids and questions too.
        chatbot.clear(lambda: ([], {}, "", []), None, [history, ids, status, asked], api_visibility="private")
        procedure.input(chat.change_procedure, [procedure], [asked, status], api_visibility="private")
        clear_procedure.click(lambda: ANY_PROCEDURE, None, [procedure], api_visibility="private").then(
            chat.change_procedure, [procedure], [asked, status], api_visibility="private")
        demo.load(chat.page_context, None, [procedure, status], api_visibility="private")
        demo.load(chat.starters, None, [*buttons, starter_box], api_visibility="private")
    return demo
