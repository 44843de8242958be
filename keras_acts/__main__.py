import sys

from keras_acts_cli import main

sys.exit(main())
