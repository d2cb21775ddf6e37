# Generated from exercises/masters/05_inference.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_torch_update"
points = None

@test_case(points=1, hidden=False)
def test_one_step(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'torch_update')
    x = np.random.default_rng(51).normal(loc=2.0, scale=3.0, size=(8, 3))
    layer = bnlib.BatchNorm(momentum=0.9, unbiased_moving_variance=True)
    layer.build(x.shape, np.float64)
    layer(x, training=True)
    case = 'case 1: one batch of shape (8, 3) from running_mean = 0, running_var = 1, momentum=0.1'
    got = g.call(f, np.zeros(3), np.ones(3), x, 0.1, 1, case=case, name='torch_update', arg_names=['running_mean', 'running_var', 'x', 'momentum', 'num_batches'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (running_mean, running_var), got {g.describe(got)}')
    g.check_array(got[0], layer.moving_mean, case=case, name='running_mean', hint="momentum is the weight of the batch's statistic, 1 - momentum that of the old value")
    g.check_array(got[1], layer.moving_variance, case=case, name='running_var', hint='PyTorch averages the unbiased batch variance, ddof=1')

@test_case(points=1, hidden=True)
def test_ten_steps(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'torch_update')
    rng = np.random.default_rng(52)
    layer = bnlib.BatchNorm(momentum=0.7, unbiased_moving_variance=True)
    layer.build((5, 4), np.float64)
    mean, var = (np.zeros(4), np.ones(4))
    for step in range(10):
        x = rng.normal(loc=[0.0, 5.0, -3.0, 1.0], scale=[1.0, 0.1, 4.0, 2.0], size=(5 + step, 4))
        layer(x, training=True)
        case = f'case 2: step {step + 1} of ten, momentum=0.3, a batch of shape {x.shape}'
        got = g.call(f, mean, var, x, 0.3, step + 1, case=case, name='torch_update', arg_names=['running_mean', 'running_var', 'x', 'momentum', 'num_batches'], forbid=g.bnlib_functions())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise g.ExerciseFailure(f'{case}: expected the pair (running_mean, running_var), got {g.describe(got)}')
        mean = g.check_array(got[0], layer.moving_mean, case=case, name='running_mean')
        var = g.check_array(got[1], layer.moving_variance, case=case, name='running_var')

@test_case(points=1, hidden=True)
def test_cumulative(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'torch_update')
    rng = np.random.default_rng(53)
    batches = [rng.normal(loc=1.0, scale=2.0, size=(6, 2)) for _ in range(5)]
    mean, var = (np.zeros(2), np.ones(2))
    for k, x in enumerate(batches, start=1):
        case = f'case 3: momentum=None, batch {k} of 5'
        got = g.call(f, mean, var, x, None, k, case=case, name='torch_update', arg_names=['running_mean', 'running_var', 'x', 'momentum', 'num_batches'], forbid=g.bnlib_functions())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise g.ExerciseFailure(f'{case}: expected the pair (running_mean, running_var), got {g.describe(got)}')
        mean, var = got
    case = 'case 3: momentum=None, after 5 batches'
    g.check_array(mean, np.mean([b.mean(axis=0) for b in batches], axis=0), case=case, name='running_mean', hint='with momentum=None the running mean is the plain average of the batch means: weight 1 / num_batches')
    g.check_array(var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), case=case, name='running_var')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'torch_update')
    x = np.random.default_rng(54).normal(size=(4, 3))
    mean, var = (np.array([0.5, -0.5, 1.0]), np.array([2.0, 1.0, 0.5]))
    case = 'case 4: read-only running statistics and batch'
    got = g.call(f, mean, var, x, 0.1, 7, case=case, name='torch_update', arg_names=['running_mean', 'running_var', 'x', 'momentum', 'num_batches'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (running_mean, running_var), got {g.describe(got)}')
    g.check_array(got[0], 0.9 * mean + 0.1 * x.mean(axis=0), case=case, name='running_mean')
    g.check_array(got[1], 0.9 * var + 0.1 * x.var(axis=0, ddof=1), case=case, name='running_var')

