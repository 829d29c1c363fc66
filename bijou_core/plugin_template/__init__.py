"""The files ``bijou plugin new`` renders, laid out like the package it writes.

``pyproject.toml.tmpl``, ``README.md.tmpl``, ``src/`` and ``tests/`` mirror a plugin package (see
``examples/bijou-smart-ring``); ``example/`` is the small example device written when no tools file
is given; ``derived/`` holds the simulator pieces and the wording used when one is. Every ``*.tmpl``
file is a ``string.Template`` (``$name``, ``$package``, ``$module``, ``$display_name``,
``$description``, ``$class_name`` and a few per file).
"""
