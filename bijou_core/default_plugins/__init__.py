"""bijou's built-in plugins: modules written against the plugin API like third-party plugins.

``load_plugins`` registers ``DEFAULT_PLUGINS`` (plugin name -> module) before the installed
plugins, through the same ``Plugins.register``; ``bijou plugins --all`` lists them.
"""

from . import embedded_models

DEFAULT_PLUGINS = {"bijou-core": embedded_models}
