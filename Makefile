# wattscale - the README's commands. Each installs missing Debian packages first
# (scripts/install-deps.sh), configures with CMake and builds.
#   make          build into build/
#   make test     build, then run every test (ctest; GPU tests skip where no GPU is)
#   make demo     the main job: run the small default study, write its report (out/demo/report/report.html)
#   make asan     build with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and test
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build test demo asan clean deps-build deps-test

all: build

deps-build:
	@scripts/install-deps.sh build
deps-test:
	@scripts/install-deps.sh test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

asan: deps-test
	cmake -S . -B build-asan -DWS_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) build-asan
