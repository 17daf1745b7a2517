"""The staff app at /staff/: front desk lookup and the content team view, behind a sign-in.

Why a second Gradio app rather than tabs in the patient one: a Gradio app's sign-in check protects the
whole app (its page, its config and every event endpoint), so the public widget and the staff views are
two apps mounted at two paths, and only the staff one requires a signed-in session (see ui/auth.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ui.auth import LOGOUT_PATH
from ui.content import build_content_team
from ui.frontdesk import build_front_desk
from ui.render import esc

if TYPE_CHECKING:
    from api.service import Service


def build_staff_app(service: Service) -> gr.Blocks:
    name = service.settings.clinic_name

    def who(request: gr.Request) -> str:
        user = getattr(request, "username", None) or "staff"
        return (f'<div class="cqa-header"><h1>{esc(name)} — staff</h1><p>Signed in as {esc(str(user))}. '
                f'<a href="{LOGOUT_PATH}">Sign out</a></p></div>')

    # delete_cache: Gradio's copies of downloaded CSVs are removed hourly once a day old.
    with gr.Blocks(title=f"{name} — staff", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        header = gr.HTML(f'<div class="cqa-header"><h1>{esc(name)} — staff</h1></div>')
        with gr.Tab("Front desk", elem_id="cqa-tab-frontdesk"):
            build_front_desk(service, demo)
        with gr.Tab("Content team", elem_id="cqa-tab-content") as content_tab:
            build_content_team(service, content_tab)
        demo.load(who, None, [header], api_visibility="private")
    return demo
