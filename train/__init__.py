"""Training and evaluation on labelled ECG collections (issue #6).

``train.data``        adapters (PTB-XL, PhysioNet Challenge, CODE-15%, CinC 2017, expert-review export) -> one
                      on-disk training format (float16 memory-mapped shards + labels + mask + manifest)
``train.augment``     batch augmentation (amplitude, noise, baseline wander, shift, lead dropout) and the
                      electrical-axis augmentation of single-lead models
``train.losses``      masked BCE (the known-label mask), non-negative PU learning (nnPU) for incomplete
                      labels, and the multitask loss of downstream tasks
``train.fit``         one loop: scratch / fine-tune / linear probe, resumable, DDP with torchrun
``train.evaluate``    AUROC/AUPRC with bootstrap CIs, thresholds from validation, report + plots
``train.tasks``       downstream tasks (age, sex, any label): task sets, linear probes, their metrics
``train.contrastive`` SimCLR-style pretraining without labels
``train.experiments`` the recipes' shared machinery: CV folds, parallel fits, paired bootstrap, reports
``train.recipes``     the named recipes: the shipped models and the experiments
``train.paths``       the repository's folders

``python -m train build-dataset|fit|evaluate|recipe ...`` (also ``ecg train ...``)
"""
