"""The Gradio front end, mounted on the API's FastAPI app (see ui/README.md).

- ``/ui/``: the patient chat (public; the website widget),
- ``/staff/``: front desk lookup and the content team view (sign-in),
- ``/embed-demo``: a host page showing the embed snippet at work, ``/pages/<doc_id>``: a corpus page.

Both Gradio apps call ``qa`` only through the API's own ``Service`` (``app.state.service``): one engine,
one answer cache, one question log per worker.
"""

from __future__ import annotations

import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: never phone home

from fastapi import FastAPI

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI) -> FastAPI:
    """Mount the patient app at /ui, the staff app at /staff and the plain pages on ``app``."""
    import gradio as gr

    from ui.auth import LoginRedirect, auth_router, staff_user_dependency
    from ui.patient import build_patient_app
    from ui.site import PATIENT_PATH, STAFF_PATH, NoUploads, site_router
    from ui.staff import build_staff_app
    from ui.style import CSS, theme

    service = app.state.service
    settings = service.settings
    app.include_router(site_router(service))
    app.include_router(auth_router(settings, STAFF_PATH))
    # Gradio's pages set their title from the app's config; this one is there before the config loads.
    head = f"<title>{html.escape(settings.clinic_name)} — assistant</title>"
    common = {"ssr_mode": False, "footer_links": [], "css": CSS, "show_error": False, "run_history": False,
              "theme": theme(), "head": head}
    patient = build_patient_app(service).queue(default_concurrency_limit=8)
    gr.mount_gradio_app(app, patient, path=PATIENT_PATH, **common)
    staff = build_staff_app(service).queue(default_concurrency_limit=4)
    # The staff app has no upload field either; what Gradio would keep is capped and deleted within a day
    # (its Blocks' delete_cache, ui/staff.py).
    gr.mount_gradio_app(app, staff, path=STAFF_PATH, auth_dependency=staff_user_dependency(settings),
                        max_file_size=settings.ui_max_upload_bytes, **common)
    app.add_middleware(LoginRedirect, settings=settings, staff_path=STAFF_PATH)
    app.add_middleware(NoUploads, prefix=PATIENT_PATH)
    return app
