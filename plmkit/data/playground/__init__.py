"""The synthetic pretraining playground of Physics of Language Models Part 4.1.

Five tasks, each isolating one skill, with fresh data at every step from a fixed seed [P4.1 §3]:

* :mod:`~.depo`  Depo, reasoning depth: the k-th successor on a shuffled cycle (Depo1, Depo2);
* :mod:`~.brevo` Brevo, reasoning breadth: a vertex's ancestors in topological order (Brevo1, Brevo2);
* :mod:`~.mano`  Mano, knowledge manipulation: modular arithmetic expressions over stored tables;
* :mod:`~.capo`  Capo, knowledge capacity: bioS biographies at 100 exposures (on :mod:`plmkit.data.bios`);
* :mod:`~.lano`  Lano, hierarchical structure: Part 1's grammars (on :mod:`plmkit.data.cfg`);

plus :mod:`~.copy`, the full-copy side task of Result 1, and :mod:`~.metrics`, teacher-forced
answer-token accuracy. ``capo`` and ``lano`` are not imported here (they load Part 3's and Part 1's
data): import them by name. Typical use::

    from plmkit.data.playground import depo, metrics, common
    cfg = depo.PRESETS["depo-micro"]
    test = depo.eval_set(cfg, 64, seed=0, ks=cfg.eval_ks())           # n = N, k in {1, 2, 4}
    train = depo.sample_fn(cfg, exclude=common.fingerprints(test))    # never trains on a test instance
    stream = common.online_stream(train, context=128, batch_size=32, seed=0)
    windows = metrics.pack_for_eval(test, context=128)
    scores = metrics.score(windows, metrics.teacher_forced_predictions(model, windows))

Every task shares the token layout of :mod:`~.vocab` (``<pad>`` 0, ``<bos>`` 1 separates instances);
``cfg.layout.vocab_size`` sizes the model. Command line: ``python -m plmkit canon-tasks --help``.
"""
from . import brevo, common, copy, depo, mano, metrics, vocab
from .brevo import BrevoConfig
from .common import Answer, Instance, draw_size, fingerprints, online_stream, size_law
from .copy import CopyConfig
from .depo import DepoConfig
from .mano import ManoConfig
from .metrics import AnswerScores, EvalWindows, pack_for_eval, score, teacher_forced_predictions

__all__ = [
    "brevo", "common", "copy", "depo", "mano", "metrics", "vocab",
    "BrevoConfig", "CopyConfig", "DepoConfig", "ManoConfig",
    "Answer", "Instance", "draw_size", "fingerprints", "online_stream", "size_law",
    "AnswerScores", "EvalWindows", "pack_for_eval", "score", "teacher_forced_predictions",
]
