"""The HTTP service of clinicqa (FastAPI). ``api.app.create_app`` builds it; ``api.server.run`` serves it."""
