"""The course's machinery, kept apart from the batch-normalization library ``bnlib``.

``bncourse.evidence``
    seeds shifted by ``BN_SEED_OFFSET``, samples over seeds, claims asserted with the margin the
    seeds support, and glue of rounded values and bounds (portable stored outputs).
``bncourse.guards``
    the guards through which the graded exercises' tests call a learner's code (time limits,
    read-only copies, forbidden bnlib calls, specific messages) and the grader's seal.
``bncourse.stacked``, ``seeded_mlp``, ``optimization``, ``norm_growth``, ``renorm_gap``,
``replicas``, ``variant_checks``, ``regularization``, ``source_models``, ``small_batches``
    the experiment runners the chapters share (stacked networks trained over many seeds at once,
    and the chapter-specific experiments built on them).
"""
