"""The code of the developer portal's integration examples, one module per language.

Each constant is a template whose ``%%NAME%%`` placeholders :mod:`sso.developers.examples` fills
with values already quoted for the language (a JSON string for Python and JavaScript, a single-
quoted string for PHP, ``shlex.quote`` for the shell): nothing here is formatted with ``{}``, so
the braces of PHP and JavaScript stay as they are.
"""
