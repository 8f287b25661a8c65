"""Frozen evaluation: what a pretrained encoder has learned, without fine-tuning it.

- `knn`: weighted kNN on L2-normalised pooled features (DINO, solo-learn);
- `heads`: MAE's linear probe and V-JEPA's attentive probe;
- `encoder`: the frozen encoder of any checkpoint the project reads, and what its features are;
- `features`: feature sets gathered once per view over all ranks, cached on disk;
- `linear`: the linear probe trained on cached features (and the loop the online head shares);
- `settings`: each probe's settings, and which probes a stage runs;
- `evaluate`: kNN and linear probes scored with the multi-view test, their reports, picture and
  summary.

No Lightning here: the LightningModules (feature extraction, the attentive probe) are in
`videomae_ssl.lightning.probe_modules`, the online probe of pretraining in
`videomae_ssl.callbacks.online_probe`, and the stage that wires them to the data module and
the trainers in `videomae_ssl.stages.probe`.
"""
