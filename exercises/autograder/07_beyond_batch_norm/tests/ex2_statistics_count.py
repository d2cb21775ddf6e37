# Generated from exercises/masters/07_beyond_batch_norm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_statistics_count"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['means_batch', 'means_layer', 'means_instance', 'means_group', 'values_per_group_mean']:
        g.answer(env, name, kind='int')
    names = g.answer(env, 'batch_dependent', kind='any')
    if not isinstance(names, (list, tuple, set)) or not all((isinstance(n, str) for n in names)):
        raise g.ExerciseFailure(f'`batch_dependent` should be a list of names such as ["layer"], got {g.describe(names)}')

@test_case(points=1, hidden=True)
def test_means(env):
    from bncourse import guards as g
    for name, want in [('means_batch', 64), ('means_layer', 16), ('means_instance', 1024), ('means_group', 512)]:
        g.check_number(g.answer(env, name, kind='int'), want, name=name, rtol=0, reveal=False)

@test_case(points=1, hidden=True)
def test_values(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'values_per_group_mean', kind='int'), 2048, name='values_per_group_mean', rtol=0, reveal=False, hint='a group holds C / G channels of one image, over all H x W positions')

@test_case(points=1, hidden=True)
def test_dependence(env):
    from bncourse import guards as g
    names = g.answer(env, 'batch_dependent', kind='any')
    if not isinstance(names, (list, tuple, set)) or {str(n).strip().lower() for n in names} != {'batch'}:
        raise g.ExerciseFailure('batch_dependent is not right')

