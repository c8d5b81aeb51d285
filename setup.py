"""Install mmpretrain-osdtw, the OSDTW long-tailed recognition plug-in for
MMPretrain.

The OpenMMLab stack is pinned to the versions measured to work together on
current PyTorch (see README, "Install").
"""
from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def version() -> str:
    scope: dict = {}
    with open('mmpretrain_osdtw/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmpretrain_osdtw',
    version=version(),
    description='OSDTW (Optimal Shared Depth and Task Weighting) and other '
    'long-tailed recognition methods as an MMPretrain plug-in',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.11,<3.12',
    install_requires=[
        'torch==2.14.1',
        'torchvision==0.29.1',
        'mmengine==0.10.7',
        'mmcv-lite==2.2.0',
        'mmpretrain==1.2.0',
        # mmengine resolves 'mmpretrain::' config paths with pkg_resources,
        # which setuptools 81 removed.
        'setuptools>=70,<81',
        'numpy>=1.26',
        'scikit-learn>=1.3',
        'matplotlib>=3.7',
    ],
    extras_require={
        'tests': ['pytest>=8', 'scipy>=1.11'],
    },
    license='Apache License 2.0',
    classifiers=[
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
