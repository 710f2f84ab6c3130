"""Training and evaluation on labelled ECG collections (issue #6).

``train.data``      adapters (PTB-XL, PhysioNet Challenge, CODE-15%, expert-review export) -> one
                    on-disk training format (float16 memory-mapped shards + labels + mask + manifest)
``train.augment``   batch augmentation (amplitude, noise, baseline wander, shift, lead dropout)
``train.losses``    masked BCE (the known-label mask), hook for PU losses (issue #7)
``train.fit``       one loop: scratch / fine-tune / linear probe, resumable, DDP with torchrun
``train.evaluate``  AUROC/AUPRC with bootstrap CIs, thresholds from validation, report + plots
``python -m train build-dataset|fit|evaluate ...``
"""
