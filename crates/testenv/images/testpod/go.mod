// The one program inside the test environment's own container images: the node's pause
// (sandbox) image and the tiny app image tests deploy. Standard library only, built
// static by scripts/install-testenv.sh, so the images need no base image and no registry.
module lockstep.dev/testpod

go 1.24.0
