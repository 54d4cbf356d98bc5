"""redisai: the Python side of the redisai Redis module (backend dispatch).

Imported inside redis-server by the module itself; it imports nothing heavy so
that loading the module stays fast. Frameworks are imported on first use.
"""
import sys
from importlib.machinery import BuiltinImporter, ModuleSpec

import _imp


class _CoreFinder:
    """Finds the Cython core compiled into redisai.so, registered as the
    built-in modules `redisai.<name>`. Python 3.11 releases before 3.11.5 or
    so (Debian 12 has 3.11.2) skip built-in modules for names with a dot."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.startswith("redisai.") and _imp.is_builtin(fullname):
            return ModuleSpec(fullname, BuiltinImporter, origin="built-in")
        return None


if BuiltinImporter.find_spec("sys", ["."]) is None:    # a package path hides built-ins
    sys.meta_path.insert(0, _CoreFinder)
