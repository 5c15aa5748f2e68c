# Short entry points over CMake; build.sh installs dependencies first.
#   make build   release build in build/ (warnings are errors)
#   make run     build, then serve the API and web UI at http://localhost:8000
#   make example build, then make out/mug.glb from the bundled example image
#   make install build, then install under PREFIX (default /usr/local):
#                program, web UI, systemd unit, documents; DESTDIR=DIR stages
#   make test    every test: unit (the network's once per kernel set the CPU
#                has) + end-to-end (release), unit and the HTTP API tests
#                under ASan/UBSan and (jobs, store, core, server) TSan, unit in
#                an arm64 cross build under qemu-user (make test-arm64), the
#                Windows build under Wine (make test-windows), a short
#                fuzzing run when clang is present
#   make bench   benchmarks (bench/README.md); make bench-kernels compares the
#                kernel sets with a -march=native build
#   make fuzz    longer fuzzing of the parsers of outside bytes (FUZZ_SECONDS)
#   make windows cross build for 64-bit Windows with MinGW-w64, libraries
#                cross-built from Debian's source packages, into
#                dist/lunar-nova-<version>-win64.zip (docs/windows.md)
#   make test-windows  that cross build's unit tests, its command line end
#                to end, the HTTP tests against its server and its Windows
#                service, under Wine (docs/windows.md); part of make test
JOBS ?= $(shell nproc)
# NATIVE=ON compiles everything for this machine's CPU only (-march=native);
# the default build runs on any CPU of its architecture.
NATIVE ?= OFF
FUZZ_SECONDS ?= 60
BIN = build/lunar-nova

.PHONY: build run example test test-release test-asan test-tsan test-arm64 test-fuzz bench bench-kernels fuzz clean

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_WERROR=ON -DLN_NATIVE=$(NATIVE) >/dev/null
	cmake --build build -j $(JOBS)

run: build
	$(BIN) serve --host 127.0.0.1 --port 8000 --outputs outputs

example: build
	mkdir -p out
	$(BIN) generate examples/mug.png -o out/mug.glb

# The layout is in packaging/CMakeLists.txt; the installed server finds its
# web UI and three.js under $(PREFIX)/share/lunar-nova by itself.
PREFIX ?= /usr/local
.PHONY: install
install: build
	DESTDIR="$(DESTDIR)" cmake --install build --prefix "$(PREFIX)"

test: test-release test-asan test-tsan test-arm64 test-windows test-fuzz

test-release: build
	cd build && ctest --output-on-failure -j $(JOBS)

# The sanitizer runs also start the server under the HTTP tests (http_api and models_pull,
# not the crash loop): tests/http/server.mjs fails a test whose server's log
# holds a sanitizer report or that exits with a sanitizer's status (86 here,
# 66 for TSan), LN_TEST_SLOW scales its waits, and LN_TEST_SANITIZER names
# the sanitizer for the few tests that choose smaller inputs under it.
LN_ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:exitcode=86 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86
test-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLN_WERROR=ON -DLN_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && $(LN_ASAN_ENV) LN_TEST_SLOW=3 LN_TEST_SANITIZER=address ctest --output-on-failure -j $(JOBS) -L unit
	cd build-asan && $(LN_ASAN_ENV) LN_TEST_SLOW=3 LN_TEST_SANITIZER=address ctest --output-on-failure -j $(JOBS) -R '^(http_api|models_pull)$$'

test-tsan:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_WERROR=ON -DLN_TSAN=ON -DLN_NATIVE=OFF >/dev/null
	cmake --build build-tsan -j $(JOBS) --target test_jobs test_store test_core lunar-nova ln-synth
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" LN_TEST_SLOW=5 LN_TEST_SANITIZER=thread \
		ctest --output-on-failure -j $(JOBS) -R "test_jobs|test_store|test_core"
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" LN_TEST_SLOW=5 LN_TEST_SANITIZER=thread \
		ctest --output-on-failure -j $(JOBS) -R '^(http_api|models_pull)$$'

# The portable code on 64-bit ARM: a cross build with Debian's
# gcc-aarch64-linux-gnu and the arm64 libraries (cmake/aarch64-linux-gnu.cmake;
# ./build.sh test installs them), every program compiled, the unit tests run
# through qemu-user. test_triposr_engine (about 3 minutes under emulation)
# is built but runs in the native suites only. On an arm64 machine the
# native suites are the arm64 tests.
test-arm64:
	@if [ "$$(uname -m)" = aarch64 ]; then \
		echo "this machine is arm64: the native suites are the arm64 tests"; exit 0; fi; \
	for t in aarch64-linux-gnu-gcc qemu-aarch64; do command -v $$t >/dev/null || { \
		echo "test-arm64: $$t not found (./build.sh test-arm64 installs the cross tools)"; \
		exit 1; }; done; \
	set -ex; \
	cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_WERROR=ON -DLN_NATIVE=OFF >/dev/null; \
	cmake --build build-arm64 -j $(JOBS); \
	cd build-arm64 && ctest --output-on-failure -j $(JOBS) -L unit -E '^test_triposr_engine$$'

test-fuzz:
	@if command -v clang >/dev/null; then \
		$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10; \
	else echo "clang not found: fuzzing skipped"; fi

fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLN_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/fuzz/fuzz_*; do \
		name=$$(basename $$f); mkdir -p build-fuzz/corpus/$$name; \
		echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
			build-fuzz/corpus/$$name fuzz/corpus/$$name 2>build-fuzz/$$name.log \
			|| { tail -40 build-fuzz/$$name.log; exit 1; }; \
		tail -1 build-fuzz/$$name.log; \
	done

bench: build
	./bench/run.sh

# Reconstruction quality of the sculpt engine against objects of known shape
# (bench/README.md, docs/quality.md); about 1.5 minutes on 2 cores.
.PHONY: bench-shapes
bench-shapes: build
	build/bench/bench-shapes

# Each kernel set against a -march=native build, in one run (bench/README.md).
bench-kernels: build
	./bench/kernels.sh

# Windows (x86-64, Windows 10 and later), cross-built on this Debian machine
# (docs/windows.md): packaging/windows/deps.sh cross-builds the libraries
# from Debian's source packages into a cache folder outside the repository
# (LN_WIN_DEPS, default ~/.cache/lunar-nova/mingw), skipping those already
# built; then build-win/ with cmake/x86_64-w64-mingw32.cmake, then
# packaging/windows/zip.sh. ./build.sh windows installs the cross tools.
.PHONY: windows
windows:
	JOBS=$(JOBS) packaging/windows/deps.sh
	cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_WERROR=ON -DLN_NATIVE=OFF >/dev/null
	cmake --build build-win -j $(JOBS) --target lunar-nova web_vendor
	packaging/windows/zip.sh build-win dist

# The Windows build under Wine (Debian's wine64; ./build.sh test-windows
# installs it and the cross tools): build-win configured with the tests,
# everything built (lunar-nova.exe and the unit-test .exe files), a Wine
# prefix made in build-win/wine-prefix if missing (about 10 s), then every
# unit test by ctest, which starts each .exe through cmake/wine-run.sh,
# tests/e2e/windows_cli.sh (lunar-nova.exe generate against the Linux
# build's results, hence `build` first), tests/e2e/windows_serve.sh
# (lunar-nova.exe serve over HTTP, killed and started again),
# tests/e2e/windows_http.sh (the HTTP tests of tests/http against
# lunar-nova.exe serve: uploads, event streams, bad inputs, a kill while
# a job runs; about 2 minutes) and tests/e2e/windows_service.sh
# (lunar-nova.exe service under Wine's Service Control Manager, its log
# file and event source). The unit tests run with the prefix's wineserver
# kept up (-p, ended at the end): a program started in the moment a
# wineserver ends after the last one can fail to start; a run that Wine
# ends with status 1 before the program wrote anything is started again,
# at most twice and said (LN_WINE_RETRY, cmake/wine-run.sh). Wine's own
# services (services.exe, ...) are started first by a program whose output
# goes nowhere: started by a test, they would hold its output pipe open,
# and ctest would wait for them. A machine
# without Wine (or not x86-64) skips it with a SKIPPED line; the first run
# also cross-builds the libraries into the cache (packaging/windows/deps.sh,
# about 15 minutes).
LN_WINE64 ?= $(firstword $(shell command -v wine64) $(wildcard /usr/lib/wine/wine64))
LN_WINESERVER ?= $(firstword $(wildcard $(dir $(realpath $(LN_WINE64)))wineserver) \
	$(shell command -v wineserver))
.PHONY: test-windows
test-windows: build
	@if [ -z "$(LN_WINE64)" ]; then \
		echo "test-windows: SKIPPED: wine64 not found (Debian's wine64 package, amd64 only;"; \
		echo "  ./build.sh test-windows installs it): the Windows tests did not run"; \
		exit 0; fi; \
	command -v x86_64-w64-mingw32-gcc-posix >/dev/null || { \
		echo "test-windows: x86_64-w64-mingw32-gcc-posix not found (./build.sh test-windows installs the cross tools)"; \
		exit 1; }; \
	set -ex; \
	JOBS=$(JOBS) packaging/windows/deps.sh; \
	cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_WERROR=ON -DLN_NATIVE=OFF >/dev/null; \
	cmake --build build-win -j $(JOBS); \
	if [ ! -f build-win/wine-prefix/system.reg ]; then \
		echo "test-windows: making the Wine prefix build-win/wine-prefix"; \
		cmake/wine-run.sh $(LN_WINE64) $(CURDIR)/build-win/wine-prefix wineboot --init; fi; \
	wsrv="env WINEPREFIX=$(CURDIR)/build-win/wine-prefix $(LN_WINESERVER)"; \
	$$wsrv -w; $$wsrv -p; trap "rc=\$$?; $$wsrv -k 2>/dev/null || true; exit \$$rc" EXIT; \
	cmake/wine-run.sh $(LN_WINE64) $(CURDIR)/build-win/wine-prefix cmd /c exit \
		</dev/null >/dev/null 2>&1; \
	(cd build-win && LN_WINE_RETRY=/dev/stderr ctest --output-on-failure -j $(JOBS) -L unit); \
	LN_WINE64=$(LN_WINE64) LN_TEST_TMP=$(CURDIR)/build-win/tests/tmp \
		tests/e2e/windows_cli.sh build-win/lunar-nova.exe $(BIN); \
	LN_WINE64=$(LN_WINE64) LN_TEST_TMP=$(CURDIR)/build-win/tests/tmp \
		tests/e2e/windows_serve.sh build-win/lunar-nova.exe $(BIN); \
	LN_WINE64=$(LN_WINE64) LN_TEST_TMP=$(CURDIR)/build-win/tests/tmp \
		tests/e2e/windows_http.sh build-win/lunar-nova.exe $(BIN) || [ $$? = 77 ]; \
	LN_WINE64=$(LN_WINE64) LN_TEST_TMP=$(CURDIR)/build-win/tests/tmp \
		tests/e2e/windows_service.sh build-win/lunar-nova.exe $(BIN)

clean:
	rm -rf build build-arm64 build-asan build-fuzz build-native build-tsan build-win out
