# cmake -DLN_THREE_DIR=<node_modules/three> -DLN_VENDOR_DIR=<build>/vendor -P copy-three.cmake
#
# Copies the files of the three.js npm package that the web UI loads into
# LN_VENDOR_DIR/three/, keeping their paths: web/index.html's import map
# ("three" is build/three.module.js, "three/addons/" is examples/jsm/),
# web/viewer.js's imports, and what those import in turn; plus the
# package's LICENSE. src/server/ln_server_static.c checks for the same
# files at start-up. A file already up to date is not written again.
# Without the package, warns and copies nothing.
set(ln_three_files
    LICENSE
    build/three.module.js
    build/three.core.js
    examples/jsm/loaders/GLTFLoader.js
    examples/jsm/controls/OrbitControls.js
    examples/jsm/helpers/ViewHelper.js
    examples/jsm/utils/BufferGeometryUtils.js
    examples/jsm/utils/SkeletonUtils.js)

if(NOT EXISTS "${LN_THREE_DIR}/build/three.module.js")
    message(WARNING "three.js not found in ${LN_THREE_DIR} (run npm ci at the repository "
                    "root): the web UI's 3D viewer will be missing from this build and its "
                    "installation; the UI says so and still offers the downloads")
    return()
endif()
foreach(f ${ln_three_files})
    if(NOT EXISTS "${LN_THREE_DIR}/${f}")
        message(FATAL_ERROR "${LN_THREE_DIR}/${f} not found: the three.js package is not "
                            "the one of package-lock.json (run npm ci)")
    endif()
    configure_file("${LN_THREE_DIR}/${f}" "${LN_VENDOR_DIR}/three/${f}" COPYONLY)
endforeach()
