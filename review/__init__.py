"""The review station's web page: operators settle what the pipeline was unsure of.

Pages are rendered on the server (Jinja2, autoescaped: OCR text is untrusted) and swapped by htmx; every
read and write goes through `store/`, so this package holds routes, templates and security alone. The app
is `review.app.create_app`; nothing is imported here, so `review.settings` stays cheap for the CLI.
"""
