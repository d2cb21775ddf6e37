"""Drop the second copy of inline scripts that Sphinx 7.4 writes twice into every page.

An extension that adds an inline script (``app.add_js_file(None, body=...)``) after the HTML builder
has started gets it twice: the builder keeps it with filename ``None`` and re-adds the registry's
copy as ``''``, which compare unequal. sphinx-thebe's ``const THEBE_JS_URL = ...`` is one such
script, and declaring the ``const`` a second time is a SyntaxError in the browser.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
