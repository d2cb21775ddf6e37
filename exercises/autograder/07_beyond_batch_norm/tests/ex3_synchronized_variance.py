# Generated from exercises/masters/07_beyond_batch_norm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_synchronized_variance"
points = None

@test_case(points=1, hidden=False)
def test_equal_sizes(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'sync_statistics')
    rng = np.random.default_rng(74)
    replicas = [rng.normal(loc=3.0, scale=2.0, size=(2, 4)) for _ in range(8)]
    whole = np.concatenate(replicas)
    case = 'case 1: 8 replicas of 2 examples, 4 features'
    got = g.call(f, replicas, case=case, name='sync_statistics', arg_names=['replicas'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (mean, variance), got {g.describe(got)}')
    g.check_array(got[0], whole.mean(axis=0), case=case, name='mean')
    g.check_array(got[1], whole.var(axis=0), case=case, name='variance', hint="the variance of the whole batch also contains the spread of the replicas' means around the global mean")

@test_case(points=1, hidden=True)
def test_unequal_sizes_pure(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'sync_statistics')
    rng = np.random.default_rng(75)
    replicas = [rng.normal(loc=100.0 * k, scale=0.5 + k, size=(n, 3)) for k, n in enumerate([1, 5, 2, 9])]
    whole = np.concatenate(replicas)
    case = 'case 2: replicas of 1, 5, 2 and 9 examples with different means, read-only'
    got = g.call(f, replicas, case=case, name='sync_statistics', arg_names=['replicas'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (mean, variance), got {g.describe(got)}')
    g.check_array(got[0], whole.mean(axis=0), case=case, name='mean', hint='weight each replica by its number of examples')
    g.check_array(got[1], whole.var(axis=0), case=case, name='variance')

@test_case(points=1, hidden=True)
def test_fraction(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'expected_fraction'), 0.5, name='expected_fraction', rtol=0.02, reveal=False, hint='the biased variance of n examples is on average (n - 1) / n of the true variance')

