"""``python render_actions.py SETTINGS``: the training set's action scenes (``action_stream``) written as one video.

Run as its own process by ``support.clips.action_replay``, so that a runtime
test never imports vclf.train. SETTINGS is JSON: path, labels, clips, seed, length, fps.
"""

import json
import sys

import numpy as np

from vclf.runtime.video_writer import write_video
from vclf.train.synth import action_stream

if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    rng = np.random.default_rng(settings["seed"])
    frames = action_stream(tuple(settings["labels"]), settings["clips"], rng, settings["length"])
    write_video(settings["path"], frames, fps=settings["fps"])
