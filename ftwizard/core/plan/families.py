"""Model families as data: one entry per `model_type` says how a decoder block is built.

Each entry names the block's linear layers (real module names, shapes as small expressions over the
config's dimensions), its norms, the final norm and extra tensors, whether embeddings are tied by default
(transformers' own default for that config class), the decoder-layer class FSDP wraps, the LoRA target
sets and, for mixture-of-experts models, the expert layout. Adding a family is one entry in FAMILIES.

LoRA target sets: `minimal` as the layout lists it, `attention` = the attention linears, `all-linear` = every
nn.Linear of the block except routers (3-D expert weights are not modules; see _MOE_NOTE).

Dimension names usable in expressions (see `model_facts.dims_from_config`):
  h hidden size · q heads×head_dim · kv kv_heads×head_dim · hd head_dim · i MLP intermediate size
  V vocab size · P max positions · ei expert intermediate · si shared-expert intermediate · E experts
  qr/kvr MLA q/kv LoRA ranks · qkd MLA q·k head dim (nope+rope) · nope · rope · vd MLA value head dim
  nh heads · i_mlp llama4's dense-layer MLP size
An expression is a sum of products of names and integers: "2*h", "q+2*kv", "P*h+2*h".
"""

from __future__ import annotations

from dataclasses import dataclass, field

BiasSpec = bool | str  # a literal, or a config key read as a bool (False when absent)


@dataclass(frozen=True)
class Lin:
    """A linear layer of a block: name, in/out shape expressions, bias, part (attn | mlp | router)."""

    name: str
    inp: str
    out: str
    bias: BiasSpec = False
    part: str = "attn"


@dataclass(frozen=True)
class MoE:
    """Mixture-of-experts block. Experts are 3-D parameters in transformers 5 (`experts.gate_up_proj`,
    `experts.down_proj`), which PEFT reaches with `target_parameters`, not `target_modules`."""

    router: str = "E*h"  # router weight (+ bias …) per MoE layer
    expert_bias: bool = False  # gpt_oss: per-expert biases on both projections
    shared: tuple[Lin, ...] = ()  # always-on shared expert(s), nn.Linear modules
    dense_mlp_inter: str = "i"  # intermediate size of the MLP in dense (non-MoE) layers


@dataclass(frozen=True)
class Layout:
    attn: tuple[Lin, ...]
    mlp: tuple[Lin, ...]
    norms: str = "2*h"  # norm parameters per block
    final: str = "h"  # final norm (+ position embeddings, embedding norm, lm_head bias …)
    gated: bool = True
    parallel: bool = False  # attention and MLP read the same normed input
    minimal: tuple[str, ...] = ("q_proj", "v_proj")
    norms_if: tuple[tuple[str, str], ...] = ()  # (config key, extra norm expression when it is true; "!key": false)


@dataclass(frozen=True)
class ArchFamily:
    layout: Layout
    layer_class: str
    tied: bool = False  # transformers' default for tie_word_embeddings when the config omits it
    moe: MoE | None = None
    upcasts_logits: bool = True
    notes: tuple[str, ...] = field(default=())
    style: str = ""  # the layout family shown to users ("llama" for Llama-style blocks); default: the model_type


# ---- building blocks ---------------------------------------------------------------------------------
def qkvo(qkv_bias: BiasSpec = "attention_bias", o_bias: BiasSpec = "attention_bias") -> tuple[Lin, ...]:
    return (Lin("q_proj", "h", "q", qkv_bias), Lin("k_proj", "h", "kv", qkv_bias),
            Lin("v_proj", "h", "kv", qkv_bias), Lin("o_proj", "q", "h", o_bias))


def gated_mlp(bias: BiasSpec = "mlp_bias", inter: str = "i") -> tuple[Lin, ...]:
    return (Lin("gate_proj", "h", inter, bias, "mlp"), Lin("up_proj", "h", inter, bias, "mlp"),
            Lin("down_proj", inter, "h", bias, "mlp"))


def plain_mlp(up: str, down: str, bias: BiasSpec = False) -> tuple[Lin, ...]:
    return (Lin(up, "h", "i", bias, "mlp"), Lin(down, "i", "h", bias, "mlp"))


LLAMA = Layout(qkvo(), gated_mlp())
QWEN2 = Layout(qkvo(True, False), gated_mlp(False))
QK_NORM = Layout(qkvo(), gated_mlp(), norms="2*h+2*hd")  # qwen3, exaone4, hunyuan: per-head q/k norms
GEMMA2 = Layout(qkvo(), gated_mlp(False), norms="4*h")
GEMMA3 = Layout(qkvo(), gated_mlp(False), norms="4*h+2*hd")
OLMO2 = Layout(qkvo(), gated_mlp(False), norms="2*h+q+kv")  # q/k norms over the whole projection
PLAIN_UP_DOWN = Layout(qkvo(), plain_mlp("up_proj", "down_proj", "mlp_bias"), gated=False)
APERTUS = Layout(qkvo(), plain_mlp("up_proj", "down_proj", "mlp_bias"), norms="2*h+2*hd+2", gated=False)
PHI3 = Layout((Lin("qkv_proj", "h", "q+2*kv"), Lin("o_proj", "q", "h")),
              (Lin("gate_up_proj", "h", "2*i", part="mlp"), Lin("down_proj", "i", "h", part="mlp")),
              minimal=("qkv_proj",))
GLM4 = Layout(qkvo(True, False), (Lin("gate_up_proj", "h", "2*i", part="mlp"), Lin("down_proj", "i", "h", part="mlp")),
              norms="4*h")
PHI = Layout((Lin("q_proj", "h", "q", True), Lin("k_proj", "h", "kv", True), Lin("v_proj", "h", "kv", True),
              Lin("dense", "q", "h", True)), plain_mlp("fc1", "fc2", True),
             norms="2*h", final="2*h+V", gated=False, parallel=True, norms_if=(("qk_layernorm", "4*hd"),))
GPT_NEOX = Layout((Lin("query_key_value", "h", "3*h", True), Lin("dense", "h", "h", True)),
                  plain_mlp("dense_h_to_4h", "dense_4h_to_h", True), norms="4*h", final="2*h", gated=False,
                  minimal=("query_key_value",))
BLOOM = Layout(GPT_NEOX.attn, GPT_NEOX.mlp, norms="4*h", final="4*h", gated=False, minimal=("query_key_value",))
GPT2 = Layout((Lin("c_attn", "h", "3*h", True), Lin("c_proj", "h", "h", True)),
              (Lin("c_fc", "h", "i", True, "mlp"), Lin("c_proj", "i", "h", True, "mlp")),
              norms="4*h", final="P*h+2*h", gated=False, minimal=("c_attn",))
GPT_BIGCODE = Layout((Lin("c_attn", "h", "q+2*kv", True), Lin("c_proj", "h", "h", True)), GPT2.mlp,
                     norms="4*h", final="P*h+2*h", gated=False, minimal=("c_attn",))
GPTJ = Layout((Lin("q_proj", "h", "h"), Lin("k_proj", "h", "h"), Lin("v_proj", "h", "h"), Lin("out_proj", "h", "h")),
              plain_mlp("fc_in", "fc_out", True), norms="2*h", final="2*h+V", gated=False, parallel=True)
OPT = Layout((Lin("q_proj", "h", "h", True), Lin("k_proj", "h", "h", True), Lin("v_proj", "h", "h", True),
              Lin("out_proj", "h", "h", True)), plain_mlp("fc1", "fc2", True),
             norms="4*h", final="P*h+2*h+4*h", gated=False)
MPT = Layout((Lin("Wqkv", "h", "3*h"), Lin("out_proj", "h", "h")), plain_mlp("up_proj", "down_proj"),
             norms="2*h", final="h", gated=False, minimal=("Wqkv",))
STARCODER2 = Layout(qkvo("use_bias", "use_bias"), plain_mlp("c_fc", "c_proj", "use_bias"), norms="4*h", final="2*h",
                    gated=False)
STABLELM = Layout(qkvo("use_qkv_bias", False), gated_mlp(False), norms="4*h", final="2*h")
COHERE = Layout(qkvo(), gated_mlp(False), norms="h", final="h", parallel=True, norms_if=(("use_qk_norm", "q+kv"),))
OLMO = Layout(qkvo(), gated_mlp(False), norms="0", final="0")  # non-parametric LayerNorm
FALCON = Layout((Lin("query_key_value", "h", "q+2*kv", "bias"), Lin("dense", "q", "h", "bias")),
                plain_mlp("dense_h_to_4h", "dense_4h_to_h", "bias"), norms="2*h", final="2*h", gated=False,
                parallel=True, minimal=("query_key_value",),
                norms_if=(("new_decoder_architecture", "2*h"), ("!parallel_attn", "2*h")))
QWEN1 = Layout((Lin("c_attn", "h", "3*h", True), Lin("c_proj", "h", "h")),
               (Lin("w1", "h", "i", part="mlp"), Lin("w2", "h", "i", part="mlp"), Lin("c_proj", "i", "h", part="mlp")),
               minimal=("c_attn",))
# DeepSeek multi-head latent attention (q_lora_rank set; without it q_proj replaces q_a/q_b)
MLA = Layout((Lin("q_a_proj", "h", "qr"), Lin("q_b_proj", "qr", "nh*qkd"), Lin("kv_a_proj_with_mqa", "h", "kvr+rope"),
              Lin("kv_b_proj", "kvr", "nh*nope+nh*vd"), Lin("o_proj", "nh*vd", "h")),
             gated_mlp(False), norms="2*h+qr+kvr", minimal=("q_b_proj", "kv_b_proj"))
MLA_NO_QLORA = Layout((Lin("q_proj", "h", "nh*qkd"),) + MLA.attn[2:], gated_mlp(False), norms="2*h+kvr",
                      minimal=("q_proj", "kv_b_proj"))

def _llama(layout: Layout, layer_class: str, *, tied: bool = False, moe: MoE | None = None,
           notes: tuple[str, ...] = ()) -> ArchFamily:
    """A Llama-style block (q/k/v/o attention; gated MLP or experts)."""
    return ArchFamily(layout, layer_class, tied=tied, moe=moe, notes=notes, style="llama")


_MOE_NOTE = ("experts are 3-D parameters: LoRA here adapts attention (and shared experts); PEFT can also adapt "
             "experts with target_parameters=['experts.gate_up_proj', 'experts.down_proj']; QLoRA's 4-bit "
             "quantization covers nn.Linear layers only, so the experts stay 16-bit")

FAMILIES: dict[str, ArchFamily] = {
    # Llama-style: q/k/v/o + gated MLP
    "llama": _llama(LLAMA, "LlamaDecoderLayer"),
    "mistral": _llama(LLAMA, "MistralDecoderLayer"),
    "ministral": _llama(LLAMA, "MinistralDecoderLayer"),
    "qwen2": _llama(QWEN2, "Qwen2DecoderLayer"),
    "qwen3": _llama(QK_NORM, "Qwen3DecoderLayer"),
    "gemma": _llama(Layout(qkvo(), gated_mlp(False)), "GemmaDecoderLayer", tied=True),
    "gemma2": _llama(GEMMA2, "Gemma2DecoderLayer", tied=True),
    "gemma3_text": _llama(GEMMA3, "Gemma3DecoderLayer", tied=True),
    "smollm3": _llama(LLAMA, "SmolLM3DecoderLayer", tied=True),
    "granite": _llama(LLAMA, "GraniteDecoderLayer"),
    "cohere": _llama(COHERE, "CohereDecoderLayer", tied=True),
    "olmo": _llama(OLMO, "OlmoDecoderLayer"),
    "olmo2": _llama(OLMO2, "Olmo2DecoderLayer"),
    "olmo3": _llama(OLMO2, "Olmo3DecoderLayer"),
    "exaone4": _llama(QK_NORM, "Exaone4DecoderLayer", tied=True),
    "hunyuan_v1_dense": _llama(QK_NORM, "HunYuanDenseV1DecoderLayer", tied=True),
    "internlm3": _llama(Layout(qkvo("qkv_bias", "bias"), gated_mlp("bias")), "LlamaDecoderLayer"),  # built as Llama
    "internlm2": ArchFamily(Layout((Lin("wqkv", "h", "q+2*kv", "bias"), Lin("wo", "q", "h", "bias")),
                               (Lin("w1", "h", "i", part="mlp"), Lin("w3", "h", "i", part="mlp"),
                                Lin("w2", "i", "h", part="mlp")), minimal=("wqkv",)), "InternLM2DecoderLayer"),
    "seed_oss": _llama(Layout(qkvo("attention_bias", "attention_out_bias"), gated_mlp()), "SeedOssDecoderLayer"),
    "stablelm": _llama(STABLELM, "StableLmDecoderLayer"),
    "glm4": _llama(GLM4, "Glm4DecoderLayer"),
    "apertus": ArchFamily(APERTUS, "ApertusDecoderLayer"),
    "arcee": ArchFamily(PLAIN_UP_DOWN, "ArceeDecoderLayer"),
    "starcoder2": ArchFamily(STARCODER2, "Starcoder2DecoderLayer", tied=True),
    # fused projections / older layouts
    "phi3": ArchFamily(PHI3, "Phi3DecoderLayer"),
    "phi": ArchFamily(PHI, "PhiDecoderLayer"),
    "gpt_neox": ArchFamily(GPT_NEOX, "GPTNeoXLayer"),
    "stablelm_alpha": ArchFamily(GPT_NEOX, "GPTNeoXLayer"),
    "falcon": ArchFamily(FALCON, "FalconDecoderLayer", tied=True),
    "bloom": ArchFamily(BLOOM, "BloomBlock", tied=True),
    "gpt2": ArchFamily(GPT2, "GPT2Block", tied=True),
    "gpt_bigcode": ArchFamily(GPT_BIGCODE, "GPTBigCodeBlock", tied=True),
    "gptj": ArchFamily(GPTJ, "GPTJBlock"),
    "opt": ArchFamily(OPT, "OPTDecoderLayer", tied=True),
    "mpt": ArchFamily(MPT, "MptBlock", tied=True),
    "qwen": ArchFamily(QWEN1, "QWenBlock", upcasts_logits=False),  # Qwen (v1) remote code: 16-bit loss
    # remote-code only (trust_remote_code): counted from the table, no meta-device cross-check
    "baichuan": ArchFamily(Layout((Lin("W_pack", "h", "3*h"), Lin("o_proj", "h", "h")), gated_mlp(False),
                              minimal=("W_pack",)), ""),
    "chatglm": ArchFamily(Layout((Lin("query_key_value", "h", "q+2*kv", "add_qkv_bias"), Lin("dense", "q", "h")),
                             (Lin("dense_h_to_4h", "h", "2*i", part="mlp"), Lin("dense_4h_to_h", "i", "h", part="mlp")),
                             minimal=("query_key_value",)), "GLMBlock"),
    # mixture of experts
    "mixtral": _llama(Layout(qkvo(), ()), "MixtralDecoderLayer", moe=MoE(), notes=(_MOE_NOTE,)),
    "qwen3_moe": _llama(Layout(qkvo(), (), norms="2*h+2*hd"), "Qwen3MoeDecoderLayer", moe=MoE(),
                        notes=(_MOE_NOTE,)),
    "qwen2_moe": _llama(Layout(qkvo(True, False), ()), "Qwen2MoeDecoderLayer",
                        moe=MoE(shared=gated_mlp(False, "si") + (Lin("shared_expert_gate", "h", "1", part="router"),)),
                        notes=(_MOE_NOTE,)),
    "olmoe": _llama(Layout(qkvo(), (), norms="2*h+h+kv"), "OlmoeDecoderLayer", moe=MoE(), notes=(_MOE_NOTE,)),
    "granitemoe": _llama(Layout(qkvo(), ()), "GraniteMoeDecoderLayer", tied=True, moe=MoE(), notes=(_MOE_NOTE,)),
    "gpt_oss": ArchFamily(Layout(qkvo(True, True), (), norms="2*h+nh"), "GptOssDecoderLayer",
                      moe=MoE(router="E*h+E", expert_bias=True), notes=(_MOE_NOTE,)),
    "llama4_text": _llama(Layout(qkvo(), ()), "Llama4TextDecoderLayer",
                          moe=MoE(router="E*h", shared=gated_mlp(False), dense_mlp_inter="i_mlp"), notes=(_MOE_NOTE,)),
    "deepseek_v3": ArchFamily(MLA, "DeepseekV3DecoderLayer", moe=MoE(router="E*h+E", shared=gated_mlp(False, "si")),
                          notes=(_MOE_NOTE,)),
    "deepseek_v2": ArchFamily(MLA, "DeepseekV2DecoderLayer", moe=MoE(shared=gated_mlp(False, "si")), notes=(_MOE_NOTE,)),
}

# configs that are not causal LMs: refused with one line
ENCODER_ONLY = frozenset({
    "bert", "roberta", "deberta", "deberta-v2", "distilbert", "albert", "electra", "xlm-roberta", "xlm-roberta-xl",
    "camembert", "mpnet", "modernbert", "ernie", "nomic_bert", "eurobert", "ultrabert", "megatron-bert", "mobilebert",
    "squeezebert", "convbert", "funnel", "longformer", "big_bird", "layoutlm", "layoutlmv2", "layoutlmv3", "luke",
    "roformer", "rembert", "canine", "esm", "ibert", "data2vec-text", "xmod", "nystromformer", "yoso", "mra",
    "flaubert", "xlm", "markuplm", "jina_embeddings_v3", "gte", "vit", "clip", "siglip", "wav2vec2", "hubert",
})
ENCODER_DECODER = frozenset({
    "t5", "mt5", "umt5", "longt5", "byt5", "bart", "mbart", "pegasus", "pegasus_x", "marian", "whisper", "led",
    "m2m_100", "nllb", "nllb_moe", "fsmt", "prophetnet", "switch_transformers", "t5gemma", "t5gemma2", "plbart",
    "blenderbot", "blenderbot-small", "bigbird_pegasus", "mvp", "seamless_m4t", "seamless_m4t_v2", "speech_to_text",
    "encoder-decoder", "vision-encoder-decoder", "speech-encoder-decoder", "udop", "moonshine",
})


def family(model_type: str) -> ArchFamily | None:
    return FAMILIES.get(model_type)


def layer_class(model_type: str) -> str | None:
    """The decoder-layer class FSDP auto-wraps for a model_type (None when unknown)."""
    fam = FAMILIES.get(model_type)
    return fam.layer_class if fam else None


LAYER_CLASSES: dict[str, str] = {k: f.layer_class for k, f in FAMILIES.items() if f.layer_class}
