"""The wizard's answers and the editable plan — pure, so the app, the CLI and tests share one path.

Answers (decision, task, GPU, model, data, the user's plan edits) save to and load from a preset YAML.
`make_plan` turns answers + model facts + the probed GPUs into a `PlanView`: the recommendation with the
user's edits applied, each value with its reason, the memory estimate in parts, and one-key fixes when the
plan does not fit. `to_run_config` turns it into the RunConfig that the trainer reads.

answers.py (the answers, presets, autosave) → plan_view.py (make_plan, fixes) → timing.py (time and cost) →
run_config.py (the RunConfig). The names are re-exported here.
"""

from __future__ import annotations

from ftwizard.core.wizard.answers import *  # noqa: F403
from ftwizard.core.wizard.answers import Answers, PresetError  # noqa: F401 - the names most callers use
from ftwizard.core.wizard.plan_view import *  # noqa: F403
from ftwizard.core.wizard.run_config import to_run_config  # noqa: F401
from ftwizard.core.wizard.timing import cost_line, plan_cost, plan_time, plan_workload  # noqa: F401
