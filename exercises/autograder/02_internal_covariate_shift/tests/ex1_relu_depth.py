# Generated from exercises/masters/02_internal_covariate_shift.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_relu_depth"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['glorot_factor', 'constant_scale', 'after_10_layers']:
        value = g.answer(env, name)
        if value <= 0:
            raise g.ExerciseFailure(f'`{name}` should be a positive number, got {value}')

@test_case(points=1, hidden=True)
def test_factor(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'glorot_factor'), 0.5 ** 0.5, name='glorot_factor', factor=1.05, reveal=False, hint='the variance halves through the ReLU; the root mean square is its square root')

@test_case(points=1, hidden=True)
def test_scale(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'constant_scale'), 2 ** 0.5, name='constant_scale', factor=1.05, reveal=False)

@test_case(points=1, hidden=True)
def test_ten_layers(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'after_10_layers'), 0.5 ** 5, name='after_10_layers', factor=1.3, reveal=False)

