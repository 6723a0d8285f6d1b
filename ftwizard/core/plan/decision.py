"""The "prompting → RAG → fine-tuning → distillation" decision tree, as data.

The UI and the tests walk the same structure: a node is either a question (with yes/no children)
or an outcome (with advice). Fine-tuning outcomes carry a `task_kind` the recommender understands.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    id: str
    title: str
    advice: list[str]
    fine_tune: bool = False
    task_kind: str | None = None


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    why: str
    yes: str  # id of the next node
    no: str


@dataclass(frozen=True)
class TaskKind:
    id: str
    label: str
    method_hint: str
    min_examples: int
    good_examples: int
    rank: int


# From the reference sheets' decision tree and the "small behaviour change / domain / complex / deep" split, plus
# the assistant's identity (its name, who made it, its persona): the most common first fine-tune.
# The one task vocabulary: the app's Task step, `ftwizard plan --task`, `ftwizard data --task` and the checklist.
TASK_KINDS: dict[str, TaskKind] = {
    "identity": TaskKind("identity", "Assistant identity or persona (its name, who made it, how it talks)", "LoRA",
                         40, 200, 16),
    "format": TaskKind("format", "Small behaviour change (format, tone, style)", "LoRA", 50, 500, 16),
    "domain": TaskKind("domain", "Domain adaptation (jargon, house style of a field)", "LoRA/QLoRA", 500, 5000, 16),
    "complex": TaskKind("complex", "Complex task learning (extraction, reasoning, code)", "LoRA", 1000, 10000, 32),
    "knowledge": TaskKind("knowledge", "Deep domain knowledge (continued pre-training + LoRA)",
                          "continued pre-training + LoRA", 5000, 50000, 64),
}

# names other parts of ftwizard (and users) say for the same kinds; `task_kind()` maps them
TASK_ALIASES = {"persona": "identity", "name": "identity", "style": "format", "tone": "format",
                "classification": "complex", "extraction": "complex", "code": "complex", "reasoning": "complex",
                "pretraining": "knowledge", "continued-pretraining": "knowledge"}


def task_kind(name: str | None) -> TaskKind:
    """The TaskKind for an id or alias; ValueError listing the known ones for anything else."""
    key = TASK_ALIASES.get((name or "").strip().lower(), (name or "").strip().lower())
    if key not in TASK_KINDS:
        raise ValueError(f"unknown task {name!r}: one of {', '.join(TASK_KINDS)}")
    return TASK_KINDS[key]


NODES: dict[str, Question | Outcome] = {
    "start": Question(
        "start", "Can you solve the problem with better prompting (clear instructions, a few examples)?",
        "Prompting costs minutes; fine-tuning costs hours to days (data, training, checks). Always try it first "
        "and keep the best prompt as a baseline.",
        yes="prompting", no="knowledge"),
    "knowledge": Question(
        "knowledge", "Does the model need external, private or frequently changing knowledge?",
        "Fine-tuning does not reliably teach new facts; retrieval (RAG) grounds answers in your documents.",
        yes="rag", no="behaviour"),
    "behaviour": Question(
        "behaviour", "Do you need to change the model's behaviour — style, format, or how it reasons?",
        "This is what fine-tuning is good at: consistent format, tone and task-specific behaviour.",
        yes="task_kind", no="smaller"),
    "smaller": Question(
        "smaller", "Do you need a smaller, cheaper or faster model that does what a big one does?",
        "Distillation trains a small model on a large model's outputs.",
        yes="distillation", no="revisit"),
    "task_kind": Question(
        "task_kind", "Is it a small behaviour change (format or tone) rather than a whole new task or domain?",
        "Small changes need 50–500 examples and a low LoRA rank; new tasks and domains need more.",
        yes="persona", no="task_depth"),
    "persona": Question(
        "persona", "Is the change who the assistant is — its name, who made it, its persona?",
        "Identity is the most common first fine-tune: 40–200 examples, but enough optimizer steps (the plan sees "
        "to it) and held-out phrasings to prove it took.",
        yes="ft_identity", no="ft_format"),
    "task_depth": Question(
        "task_depth", "Is it adapting to a domain's language (jargon, documents) rather than learning a new task?",
        "Domain adaptation: 500–5K examples. A new complex task: 1K–10K examples.",
        yes="domain_depth", no="ft_complex"),
    "domain_depth": Question(
        "domain_depth", "Does it need deep domain knowledge the model has never seen (a new language, a field's corpus)?",
        "Then continue pre-training on raw text first, then LoRA on instructions.",
        yes="ft_knowledge", no="ft_domain"),
    "prompting": Outcome("prompting", "Use prompt engineering — stop here.", [
        "Write clear instructions and 3–5 examples of the exact output you want.",
        "Measure it on 50 real inputs; keep that prompt and score as the baseline for any later fine-tune.",
        "Come back if the prompt cannot reach the quality bar or costs too many tokens.",
    ]),
    "rag": Outcome("rag", "Use retrieval-augmented generation (RAG).", [
        "Index your documents and retrieve the relevant passages into the prompt.",
        "Fine-tuning is for behaviour, not facts: it forgets and hallucinates knowledge.",
        "You can still fine-tune later for output format or style on top of RAG.",
    ]),
    "distillation": Outcome("distillation", "Distil a smaller model.", [
        "Generate outputs from a strong model on your real inputs (1K–50K examples).",
        "Fine-tune a small model (e.g. 0.5B–3B) on them with LoRA; check against the big model on a test split.",
        "Include human-validated examples: a model trained only on generated data amplifies its errors.",
    ], fine_tune=True, task_kind="complex"),
    "revisit": Outcome("revisit", "Re-examine your prompt-engineering approach.", [
        "Nothing here calls for fine-tuning: the problem is likely in the prompt or the task definition.",
        "Collect failing inputs, write down the expected outputs, and iterate on the prompt.",
    ]),
}
for _kind in TASK_KINDS.values():
    NODES[f"ft_{_kind.id}"] = Outcome(
        f"ft_{_kind.id}", f"Fine-tune: {_kind.label}.",
        [f"Method: {_kind.method_hint}; start with LoRA rank {_kind.rank}.",
         f"Data: at least {_kind.min_examples:,} examples, {_kind.good_examples:,}+ is good.",
         "Hold out a test split and measure the base model + best prompt first."],
        fine_tune=True, task_kind=_kind.id)


@dataclass
class Walk:
    """A path through the tree: answers so far and where we are."""

    answers: dict[str, bool] = field(default_factory=dict)
    node_id: str = "start"

    @property
    def node(self) -> Question | Outcome:
        return NODES[self.node_id]

    def answer(self, yes: bool) -> Question | Outcome:
        node = self.node
        if not isinstance(node, Question):
            raise ValueError("already at an outcome")
        self.answers[node.id] = yes
        self.node_id = node.yes if yes else node.no
        return self.node

    def back(self) -> None:
        """Step back one question; the earlier answers are kept."""
        if not self.answers:
            return
        last = list(self.answers)[-1]
        del self.answers[last]
        self.node_id = last


def walk(answers: dict[str, bool] | list[bool]) -> Outcome:
    """Follow answers (by question id, or in order) to the outcome."""
    w = Walk()
    seq = list(answers) if isinstance(answers, list) else None
    while isinstance(w.node, Question):
        if seq is not None:
            if not seq:
                raise ValueError(f"no answer for '{w.node.id}'")
            w.answer(seq.pop(0))
        else:
            assert isinstance(answers, dict)
            if w.node.id not in answers:
                raise ValueError(f"no answer for '{w.node.id}'")
            w.answer(answers[w.node.id])
    assert isinstance(w.node, Outcome)
    return w.node
