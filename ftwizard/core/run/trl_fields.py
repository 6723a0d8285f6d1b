"""The fields of transformers' `TrainingArguments` and of each TRL config class, as installed when this file was
generated (transformers 5.23.0, trl 1.16.0). `ftwizard train --check` validates `trainer_args:` against
them without importing either library; the trainer re-checks against the real class. tests/core/test_exports.py
fails when the installed versions add or drop a field (regenerate with the snippet in that test)."""

from __future__ import annotations

from typing import Any

TRAINING_ARGUMENTS: frozenset[str] = frozenset({
    "accelerator_config", "activation_checkpointing", "activation_checkpointing_kwargs", "adam_beta1", "adam_beta2",
    "adam_epsilon", "auto_find_batch_size", "average_tokens_across_devices", "batch_eval_metrics", "bf16",
    "bf16_full_eval", "data_seed", "dataloader_drop_last", "dataloader_in_order",
    "dataloader_multiprocessing_context", "dataloader_num_workers", "dataloader_persistent_workers",
    "dataloader_pin_memory", "dataloader_prefetch_factor", "ddp_backend", "ddp_broadcast_buffers",
    "ddp_bucket_cap_mb", "ddp_find_unused_parameters", "ddp_static_graph", "ddp_timeout", "debug", "deepspeed",
    "disable_tqdm", "do_eval", "do_predict", "do_train", "enable_jit_checkpoint", "eval_accumulation_steps",
    "eval_delay", "eval_do_concat_batches", "eval_on_start", "eval_steps", "eval_strategy",
    "eval_use_gather_object", "fp16", "fp16_full_eval", "fsdp", "fsdp_config", "full_determinism",
    "gradient_accumulation_steps", "gradient_checkpointing", "gradient_checkpointing_kwargs", "greater_is_better",
    "hub_always_push", "hub_model_id", "hub_private_repo", "hub_revision", "hub_strategy", "hub_token",
    "ignore_data_skip", "include_for_metrics", "include_num_input_tokens_seen", "label_names",
    "label_smoothing_factor", "learning_rate", "length_column_name", "liger_kernel_config",
    "load_best_model_at_end", "local_rank", "log_level", "log_level_replica", "log_on_each_node",
    "logging_first_step", "logging_nan_inf_filter", "logging_steps", "logging_strategy", "lr_scheduler_kwargs",
    "lr_scheduler_type", "max_grad_norm", "max_steps", "metric_for_best_model", "neftune_noise_alpha",
    "num_train_epochs", "optim", "optim_args", "optim_target_modules", "output_dir", "parallelism_config",
    "per_device_eval_batch_size", "per_device_train_batch_size", "prediction_loss_only", "project", "push_to_hub",
    "remove_unused_columns", "report_to", "restore_callback_states_from_checkpoint", "resume_from_checkpoint",
    "run_name", "save_on_each_node", "save_only_model", "save_steps", "save_strategy", "save_total_limit", "seed",
    "skip_memory_metrics", "tf32", "torch_compile", "torch_compile_backend", "torch_compile_mode",
    "torch_empty_cache_steps", "trackio_bucket_id", "trackio_space_id", "trackio_static_space_id",
    "train_sampling_strategy", "use_cache", "use_cpu", "use_liger_kernel", "warmup_steps", "weight_decay"
})

# config class → where it lives and the fields it adds to TrainingArguments
CONFIG_CLASSES: dict[str, str] = {
    "SFTConfig": "trl:SFTConfig",
    "DPOConfig": "trl:DPOConfig",
    "KTOConfig": "trl:KTOConfig",
    "GRPOConfig": "trl:GRPOConfig",
    "CPOConfig": "trl.experimental.cpo:CPOConfig",
    "GKDConfig": "trl.experimental.gkd:GKDConfig",
}  # (+ every TrainerSpec.trl_config: tests/core/test_exports.py checks them all)
EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "SFTConfig": frozenset({
        "activation_offloading", "assistant_only_loss", "chat_template_path", "completion_only_loss",
        "dataset_kwargs", "dataset_num_proc", "dataset_text_field", "eos_token", "eval_packing", "loss_type",
        "max_length", "model_init_kwargs", "packing", "packing_strategy", "pad_to_multiple_of", "pad_token",
        "padding_free", "router_aux_loss_coef", "shuffle_dataset", "truncation_mode", "trust_remote_code"
    }),
    "DPOConfig": frozenset({
        "activation_offloading", "beta", "dataset_num_proc", "disable_dropout", "discopop_tau",
        "f_alpha_divergence_coef", "f_divergence_type", "label_smoothing", "ld_alpha", "loss_type", "loss_weights",
        "max_length", "model_init_kwargs", "pad_to_multiple_of", "pad_token", "padding_free",
        "precompute_ref_batch_size", "precompute_ref_log_probs", "ref_model_mixup_alpha", "ref_model_sync_steps",
        "router_aux_loss_coef", "sync_ref_model", "truncation_mode", "trust_remote_code", "use_weighting"
    }),
    "KTOConfig": frozenset({
        "activation_offloading", "beta", "dataset_num_proc", "desirable_weight", "disable_dropout", "loss_type",
        "max_length", "model_init_kwargs", "pad_to_multiple_of", "precompute_ref_batch_size",
        "precompute_ref_log_probs", "ref_model_mixup_alpha", "ref_model_sync_steps", "router_aux_loss_coef",
        "sync_ref_model", "trust_remote_code", "undesirable_weight"
    }),
    "GRPOConfig": frozenset({
        "beta", "cache_implementation", "cast_lm_head_to_fp32", "chat_template_kwargs", "delta", "disable_dropout",
        "ds3_gather_for_generation", "entropy_coef", "entropy_coef_delta", "entropy_coef_max", "entropy_coef_min",
        "entropy_target", "epsilon", "epsilon_high", "generation_batch_size", "generation_kwargs",
        "importance_sampling_level", "log_completions", "log_completions_hub_repo", "log_multimodal",
        "log_unique_prompts", "loss_type", "mask_truncated_completions", "max_completion_length",
        "max_tool_calling_iterations", "min_p", "model_init_kwargs", "multi_objective_aggregation",
        "num_completions_to_print", "num_generations", "num_generations_eval", "num_iterations",
        "off_policy_mask_threshold", "pad_to_multiple_of", "ref_model_mixup_alpha", "ref_model_sync_steps",
        "repetition_penalty", "reward_weights", "router_aux_loss_coef", "sapo_temperature_neg",
        "sapo_temperature_pos", "scale_rewards", "shuffle_dataset", "steps_per_generation", "sync_ref_model",
        "temperature", "top_entropy_quantile", "top_k", "top_p", "transformers_continuous_batching_config",
        "trust_remote_code", "use_adaptive_entropy", "use_bias_correction_kl",
        "use_transformers_continuous_batching", "use_transformers_paged", "use_vllm", "vespo_k_neg", "vespo_k_pos",
        "vespo_lambda_neg", "vespo_lambda_pos", "vllm_enable_sleep_mode", "vllm_gpu_memory_utilization",
        "vllm_group_port", "vllm_importance_sampling_cap", "vllm_importance_sampling_clip_max",
        "vllm_importance_sampling_clip_min", "vllm_importance_sampling_correction", "vllm_importance_sampling_mode",
        "vllm_max_model_length", "vllm_mode", "vllm_model_impl", "vllm_server_base_url", "vllm_server_host",
        "vllm_server_port", "vllm_server_timeout", "vllm_structured_outputs_regex", "vllm_tensor_parallel_size"
    }),
    "ORPOConfig": frozenset({
        "beta", "dataset_num_proc", "disable_dropout", "generate_during_eval", "is_encoder_decoder",
        "max_completion_length", "max_length", "model_init_kwargs", "padding_value", "trust_remote_code"
    }),
    "CPOConfig": frozenset({
        "alpha", "beta", "cpo_alpha", "dataset_num_proc", "disable_dropout", "generate_during_eval",
        "is_encoder_decoder", "label_smoothing", "loss_type", "max_completion_length", "max_length",
        "model_init_kwargs", "simpo_gamma", "trust_remote_code"
    }),
    "GKDConfig": frozenset({
        "activation_offloading", "assistant_only_loss", "beta", "chat_template_path", "completion_only_loss",
        "dataset_kwargs", "dataset_num_proc", "dataset_text_field", "disable_dropout", "eos_token", "eval_packing",
        "lmbda", "loss_type", "max_length", "max_new_tokens", "model_init_kwargs", "packing", "packing_strategy",
        "pad_to_multiple_of", "pad_token", "padding_free", "router_aux_loss_coef", "seq_kd", "shuffle_dataset",
        "teacher_model_init_kwargs", "teacher_model_name_or_path", "temperature", "truncation_mode",
        "trust_remote_code"
    }),
}

# the defaults of the keys ftwizard maps to its own fields (a TRL config relies on them when it leaves a key out)
TRL_DEFAULTS: dict[str, dict[str, object]] = {
    "SFTConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 2e-05,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "packing": False, "assistant_only_loss": False, "loss_type": "nll"
    },
    "DPOConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 1e-06,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "loss_type": ["sigmoid"], "beta": 0.1
    },
    "KTOConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 1e-06,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "loss_type": "kto", "beta": 0.1, "desirable_weight": 1.0,
        "undesirable_weight": 1.0
    },
    "GRPOConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 1e-06,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "num_generations": 8, "max_completion_length": 512, "temperature": 1.0, "beta": 0.0,
        "loss_type": "dapo"
    },
    "ORPOConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 1e-06,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "beta": 0.1
    },
    "CPOConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 1e-06,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "beta": 0.1, "loss_type": "sigmoid", "simpo_gamma": 0.5
    },
    "GKDConfig": {
        "per_device_train_batch_size": 8, "num_train_epochs": 3.0, "max_steps": -1, "learning_rate": 2e-05,
        "lr_scheduler_type": "linear", "warmup_steps": 0, "optim": "adamw_torch_fused", "weight_decay": 0.0,
        "gradient_accumulation_steps": 1, "gradient_checkpointing": True, "logging_steps": 10, "save_steps":
        500, "seed": 42, "max_length": 1024, "packing": False, "assistant_only_loss": False, "loss_type": "nll",
        "temperature": 0.9, "lmbda": 0.5, "beta": 0.5
    },
}


def _installed_class(path: str) -> Any:
    """The installed config class of `module:Class`, or None (not installed, or not that version)."""
    import importlib

    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def class_fields(path: str) -> frozenset[str]:
    """The fields a TRL config class (`module:Class`) adds to TrainingArguments: from the generated table above, or
    — for a class it does not list (a trainer added since) — read from the installed class."""
    name = path.rsplit(":", 1)[-1]
    if name in EXTRA_FIELDS:
        return EXTRA_FIELDS[name]
    if name == "TrainingArguments":
        return frozenset()
    import dataclasses

    cls = _installed_class(path)
    if cls is None or not dataclasses.is_dataclass(cls):
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(cls)) - TRAINING_ARGUMENTS


def class_defaults(path: str) -> dict[str, object]:
    """The defaults of a TRL config class's keys (what a TRL config file relies on when it leaves a key out): the
    generated table above, or the installed class's own defaults."""
    name = path.rsplit(":", 1)[-1]
    if name in TRL_DEFAULTS:
        return dict(TRL_DEFAULTS[name])
    import dataclasses

    cls = _installed_class(path)
    if cls is None or not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING and isinstance(f.default, str | int | float | bool | list)}
