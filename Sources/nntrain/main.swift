// nntrain: the executable is only this line; everything lives in NNTrainCLI.
import NNTrainCLI

NNTrain.mainWithUserErrors()
