import pkgutil
import subprocess
import sys

import vclf.runtime

BLOCK_TENSORFLOW = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, *args):
        if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "pandas", "ray", "pyarrow"):
            raise ImportError("blocked " + name)

sys.meta_path.insert(0, Block())
import vclf.runtime
for module in sys.argv[1:]:
    importlib.import_module(module)
print("imported", len(sys.argv) - 1, "modules")
"""


def test_every_runtime_module_imports_with_tensorflow_and_ray_unimportable():
    modules = [m.name for m in pkgutil.iter_modules(vclf.runtime.__path__, "vclf.runtime.")]
    assert "vclf.runtime.cli" in modules and "vclf.runtime.engine" in modules
    result = subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *modules], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(modules)} modules" in result.stdout


def test_the_blocker_really_blocks_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW, "vclf.train.keras_import"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "blocked tensorflow" in result.stderr
