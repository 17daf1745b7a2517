"""The UI's CSS (one string, given to Gradio when the apps are mounted). Colours meet WCAG AA contrast."""

CSS = """
#cqa-chat .chatbot.prose { opacity: 1 !important; }  /* Gradio fades messages to 0.8: fails contrast */
.cqa-header h1 { font-size: 1.35rem; margin: 0 0 .25rem 0; }
.cqa-header p { margin: .2rem 0; }
.cqa-notice { font-size: .9rem; color: #374151; }
.cqa-more { display: inline; margin-left: .3rem; }
.cqa-more summary { display: inline; cursor: pointer; color: #1d4ed8; text-decoration: underline; }
.cqa-more[open] p { margin: .3rem 0; }
.cqa-disclaimer { font-size: .9rem; color: #374151; font-style: italic; }
.cqa-quote { margin: 0 0 .5rem 0; padding-left: .75rem; border-left: 4px solid #2563eb; font-size: 1.05rem; }
.cqa-source { margin: .25rem 0; }
.cqa-source a, .cqa-hit-title a, .cqa-abstain a { color: #1d4ed8 !important; text-decoration: underline; }
.cqa-badge { display: inline-block; margin-left: .4rem; padding: 0 .45rem; border-radius: .3rem;
             background: #fef3c7; color: #78350f; border: 1px solid #b45309; font-size: .8rem;
             font-weight: 600; }
.cqa-passage summary { cursor: pointer; color: #1d4ed8 !important; text-decoration: underline; }
.cqa-passage summary:focus-visible, .cqa-copy:focus-visible, .cqa-source a:focus-visible {
    outline: 3px solid #1d4ed8; outline-offset: 2px; }
.cqa-passage-text { margin: .4rem 0; padding: .5rem; background: #f9fafb; border-radius: .3rem;
                    color: #111827; }
.cqa-passage-text mark, .cqa-hit-text mark { background: #fde047; color: #111827; padding: 0 .1rem; }
.cqa-confidence { font-size: .8rem; color: #374151 !important; margin: .25rem 0 0 0; }
.cqa-escalation { border: 3px solid #b91c1c; background: #fef2f2; color: #7f1d1d !important; padding: .6rem .8rem;
                  border-radius: .4rem; }
.cqa-escalation a.cqa-call { display: inline-block; margin: .2rem .4rem .2rem 0; padding: .3rem .8rem;
                             background: #b91c1c; color: #ffffff; border-radius: .3rem; font-weight: 700;
                             font-size: 1.1rem; text-decoration: none; color: #ffffff !important; }
.cqa-abstain { border-left: 4px solid #6b7280; padding-left: .6rem; }
.cqa-hits { list-style: none; padding: 0; margin: 0; }
.cqa-hit { border: 1px solid #d1d5db; border-radius: .4rem; padding: .6rem .8rem; margin: 0 0 .6rem 0; }
.cqa-hit-title { font-size: 1rem; margin: 0 0 .2rem 0; }
.cqa-meta { display: block; font-size: .85rem; color: #4b5563; margin: 0 0 .3rem 0; }
.cqa-hit-text { display: block; margin: 0 0 .4rem 0; }
.cqa-copy { display: inline-block; padding: .25rem .7rem; border: 1px solid #1d4ed8; border-radius: .3rem;
            background: #eff6ff; color: #1e3a8a; cursor: pointer; }
.cqa-unavailable { border-left: 4px solid #b45309; background: #fffbeb; color: #78350f; padding: .5rem .7rem; }
.cqa-starters button { white-space: normal; }
@media (max-width: 480px) {
  .cqa-header h1 { font-size: 1.15rem; }
}
"""


def theme() -> object:
    """Gradio's default theme with blue accents (white on blue passes contrast; white on orange does
    not) and system fonts: no font is fetched from a third-party server by a patient's browser."""
    import gradio as gr

    return gr.themes.Default(
        primary_hue="blue", secondary_hue="blue", neutral_hue="gray",
        font=("system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"),
        font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "monospace"),
    ).set(
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_800",
        button_primary_text_color="#ffffff",
        color_accent="*primary_700",  # the selected tab's text: blue-500 on white fails contrast
        link_text_color="*primary_700",
        link_text_color_visited="*primary_800",
    )
