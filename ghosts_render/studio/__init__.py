"""``ghosts-render studio``: a local curation page for one archive, served on 127.0.0.1.

``app.py`` is the Flask app (the page and its JSON endpoints, which call the curation functions
the command-line verbs call); ``serve.py`` opens it: checks the archive, binds the port, holds the
archive's curation lock for the studio's whole life. The page (``templates/``, ``static/``) is
plain HTML, CSS and JavaScript, with no build step and nothing fetched from elsewhere. None of it
goes into the archive: the published folder stays static. docs/curating.md, The studio.
"""
