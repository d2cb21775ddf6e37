# Generated from exercises/masters/01_input_normalization.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_robust_scaler"
points = None

@test_case(points=1, hidden=False)
def test_training_data(env):
    import numpy as np
    from bncourse import guards as g
    Scaler = g.function(env, 'RobustScaler')
    x_train = np.array([[1.0, 100.0], [2.0, 200.0], [3.0, 300.0], [4.0, 400.0], [100.0, 500.0]])
    case = 'case 1: fit on x_train = [[1, 100], [2, 200], [3, 300], [4, 400], [100, 500]], then transform(x_train)'
    scaler = g.call(Scaler, case=case, name='RobustScaler()', forbid=g.bnlib_functions())
    g.call(scaler.fit, x_train, case=case, name='fit', arg_names=['x'], forbid=g.bnlib_functions())
    got = g.call(scaler.transform, x_train, case=case, name='transform', arg_names=['x'], forbid=g.bnlib_functions())
    expected = [[-1.0, -1.0], [-0.5, -0.5], [0.0, 0.0], [0.5, 0.5], [48.5, 1.0]]
    g.check_array(got, expected, case=case, name='transform(x_train)', hint='column 0 has median 3 and IQR 4 - 2 = 2; the outlier 100 does not change either.')

@test_case(points=1, hidden=True)
def test_new_data_uses_training_statistics(env):
    import numpy as np
    from bncourse import guards as g
    Scaler = g.function(env, 'RobustScaler')
    x_train = np.array([[1.0, 100.0], [2.0, 200.0], [3.0, 300.0], [4.0, 400.0], [100.0, 500.0]])
    x_new = np.array([[3.0, 300.0], [5.0, 100.0], [0.0, 1000.0]])
    case = 'case 2: fit on x_train, transform three new rows'
    scaler = g.call(Scaler, case=case, name='RobustScaler()', forbid=g.bnlib_functions())
    g.call(scaler.fit, x_train, case=case, name='fit', arg_names=['x'], forbid=g.bnlib_functions())
    got = g.call(scaler.transform, x_new, case=case, name='transform', arg_names=['x'], forbid=g.bnlib_functions())
    g.check_array(got, [[0.0, 0.0], [1.0, -1.0], [-1.5, 3.5]], case=case, name='transform(x_new)', hint='transform must use the median and IQR recorded by fit, not statistics of its own input.')

@test_case(points=1, hidden=True)
def test_zero_iqr_and_other_shapes(env):
    import numpy as np
    from bncourse import guards as g
    Scaler = g.function(env, 'RobustScaler')
    x = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0], [5.0, 4.0], [7.0, 5.0]])
    case = 'case 3: a feature with IQR 0 ([5, 5, 5, 5, 7])'
    scaler = g.call(Scaler, case=case, name='RobustScaler()', forbid=g.bnlib_functions())
    g.call(scaler.fit, x, case=case, name='fit', arg_names=['x'], forbid=g.bnlib_functions())
    got = g.call(scaler.transform, x, case=case, name='transform', arg_names=['x'], forbid=g.bnlib_functions())
    g.check_array(got, [[0.0, -1.0], [0.0, -0.5], [0.0, 0.0], [0.0, 0.5], [2.0, 1.0]], case=case, name='transform(x)', hint='divide by 1 where the IQR is 0.')
    rng = np.random.default_rng(11)
    x = rng.standard_t(2, size=(9, 4)) * [1.0, 10.0, 1000.0, 0.1] + [0.0, -5.0, 30000.0, 1.0]
    case = 'case 4: heavy-tailed data, shape (9, 4)'
    scaler = g.call(Scaler, case=case, name='RobustScaler()', forbid=g.bnlib_functions())
    g.call(scaler.fit, x, case=case, name='fit', arg_names=['x'], forbid=g.bnlib_functions())
    got = g.call(scaler.transform, x, case=case, name='transform', arg_names=['x'], forbid=g.bnlib_functions())
    iqr = np.percentile(x, 75, axis=0) - np.percentile(x, 25, axis=0)
    g.check_array(got, (x - np.median(x, axis=0)) / iqr, case=case, name='transform(x)')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    from bncourse import guards as g
    Scaler = g.function(env, 'RobustScaler')
    x = np.array([[1.0, 100.0], [2.0, 200.0], [3.0, 300.0], [4.0, 400.0], [100.0, 500.0]])
    case = 'case 5: fit and transform get read-only arrays'
    scaler = g.call(Scaler, case=case, name='RobustScaler()', forbid=g.bnlib_functions())
    fitted = g.call(scaler.fit, x, case=case, name='fit', arg_names=['x'], readonly=True, forbid=g.bnlib_functions())
    if fitted is not scaler:
        raise g.ExerciseFailure(f'{case}: fit(x) should return the scaler itself (`return self`), got {g.describe(fitted)}')
    got = g.call(scaler.transform, x, case=case, name='transform', arg_names=['x'], readonly=True, forbid=g.bnlib_functions())
    g.check_array(got, [[-1.0, -1.0], [-0.5, -0.5], [0.0, 0.0], [0.5, 0.5], [48.5, 1.0]], case=case, name='transform(x)')

