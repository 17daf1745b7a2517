"""Front desk lookup: search the clinic's pages while on the phone (staff sign-in required)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.errors import InputError
from ui.render import esc, search_results_html

if TYPE_CHECKING:
    from api.service import Service

ALL = ""  # the dropdown value meaning "no filter"
DEFAULT_K = 5

# Runs once in the browser on the results element: its copy buttons put their answer on the clipboard.
COPY_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('button.cqa-copy');
  if (!button) return;
  const text = button.dataset.copy || '';
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy answer'; }, 2000);
});
"""


class FrontDesk:
    def __init__(self, service: Service) -> None:
        self.service = service

    def filter_choices(self) -> tuple[Any, Any]:
        """The procedure and category dropdowns' choices, from the serving index's pages."""
        try:
            docs = self.service.engine.documents()
        except Exception:
            docs = []
        procedures = sorted({d.procedure for d in docs if d.procedure})
        categories = sorted({d.category for d in docs if d.category})
        return (gr.update(choices=[("All procedures", ALL)] + [(p, p) for p in procedures], value=ALL),
                gr.update(choices=[("All categories", ALL)] + [(c, c) for c in categories], value=ALL))

    async def search(self, query: str, procedure: str | None, category: str | None, k: float | None
                     ) -> tuple[str, str]:
        """(results HTML, a status line with the count and the time taken)."""
        from api.service import NoMatchingPagesError

        text = (query or "").strip()
        if not text:
            return "", _status("Type what the caller is asking about, then press Enter.")
        service = self.service
        start = time.perf_counter()
        try:
            engine = service.engine
            service.check_filters(engine, procedure or None, category or None)
            hits = await service.run_engine(engine.search, text, k=int(k or DEFAULT_K),
                                            procedure=procedure or None, category=category or None)
        except NoMatchingPagesError as err:
            return search_results_html([]), _status(str(err))
        except InputError as err:
            return "", _status(str(err))
        ms = (time.perf_counter() - start) * 1000
        return search_results_html(hits, text), _status(f"{len(hits)} passages in {ms:.0f} ms")


def _status(text: str) -> str:
    return f'<p role="status" class="cqa-status">{esc(text)}</p>'


def build_front_desk(service: Service, demo: gr.Blocks) -> None:
    """The front desk tab's components and events (call inside ``demo``, in its tab)."""
    desk = FrontDesk(service)
    query = gr.Textbox(label="Search the clinic's pages", placeholder="e.g. fasting before the injection",
                       lines=1, max_length=service.settings.max_question_chars, elem_id="cqa-search")
    with gr.Row():
        procedure = gr.Dropdown(label="Procedure", choices=[("All procedures", ALL)], value=ALL,
                                elem_id="cqa-procedure")
        category = gr.Dropdown(label="Category", choices=[("All categories", ALL)], value=ALL,
                               elem_id="cqa-category")
        k = gr.Dropdown(label="Passages", choices=[3, 5, 10, 20], value=DEFAULT_K, elem_id="cqa-k")
    go = gr.Button("Search", variant="primary", elem_id="cqa-search-button")
    status = gr.HTML("")
    results = gr.HTML("", elem_id="cqa-results", js_on_load=COPY_JS)
    inputs: list[Any] = [query, procedure, category, k]
    query.submit(desk.search, inputs, [results, status], api_name="search")
    go.click(desk.search, inputs, [results, status], api_visibility="private")
    procedure.change(desk.search, inputs, [results, status], api_visibility="private")
    category.change(desk.search, inputs, [results, status], api_visibility="private")
    demo.load(desk.filter_choices, None, [procedure, category], api_visibility="private")
