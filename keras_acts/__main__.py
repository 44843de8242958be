import sys

from keras_acts.cli import main

sys.exit(main())
