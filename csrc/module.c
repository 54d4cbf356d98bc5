/* Module entry points: start the embedded CPython from the project's
 * virtualenv, register our compiled Cython modules, and hand over to the
 * Cython core (redisai.commands), which registers the types and commands. */
#define _GNU_SOURCE
#include <Python.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "build_config.h"
#include "redismodule_api.h"

/* One init function per Cython module compiled into this object. */
#define DECLARE_INIT(m) PyMODINIT_FUNC PyInit_##m(void);
REDISAI_CYTHON_MODULES(DECLARE_INIT)

/* Defined in redisai/commands.pyx. */
int redisai_module_load(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                        const char *module_dir);

static void log_python_error(RedisModuleCtx *ctx, const char *what) {
    RedisModule_Log(ctx, "warning", "redisai: %s", what);
    if (PyErr_Occurred()) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
        RedisModule_Log(ctx, "warning", "redisai: %s", msg ? msg : "(no message)");
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
    }
}

/* The value of the PYTHON_EXECUTABLE load-time argument, if given. */
static const char *python_executable_arg(RedisModuleString **argv, int argc) {
    for (int i = 0; i + 1 < argc; i += 2) {
        size_t len;
        const char *name = RedisModule_StringPtrLen(argv[i], &len);
        if (len == strlen("PYTHON_EXECUTABLE") && strncasecmp(name, "PYTHON_EXECUTABLE", len) == 0)
            return RedisModule_StringPtrLen(argv[i + 1], NULL);
    }
    return NULL;
}

static int start_python(RedisModuleCtx *ctx, const char *executable, const char *module_dir) {
    if (access(executable, X_OK) != 0) {
        RedisModule_Log(ctx, "warning", "redisai: the Python interpreter %s is not executable",
                        executable);
        return REDISMODULE_ERR;
    }
    /* Redis loads modules RTLD_LOCAL; numpy/torch extensions need libpython's
     * symbols global, so re-open the already mapped libpython that way. */
    Dl_info info;
    if (!dladdr((void *)&Py_InitializeFromConfig, &info) ||
        !dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
        RedisModule_Log(ctx, "warning", "redisai: cannot promote libpython: %s", dlerror());
        return REDISMODULE_ERR;
    }
#define APPEND_INIT(m) \
    if (PyImport_AppendInittab("redisai." #m, PyInit_##m) < 0) return REDISMODULE_ERR;
    REDISAI_CYTHON_MODULES(APPEND_INIT)

#ifdef __SANITIZE_ADDRESS__
    /* pymalloc's arenas would hide Python's objects from AddressSanitizer;
     * an isolated config ignores PYTHONMALLOC, so choose malloc here. */
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus prestatus = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(prestatus)) {
        RedisModule_Log(ctx, "warning", "redisai: cannot pre-initialise Python: %s",
                        prestatus.err_msg ? prestatus.err_msg : "unknown error");
        return REDISMODULE_ERR;
    }
#endif
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 0; /* SIGINT/SIGTERM stay Redis's */
    config.site_import = 1;             /* the venv's site-packages */
    PyStatus status = PyConfig_SetBytesString(&config, &config.executable, executable);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.program_name, executable);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        RedisModule_Log(ctx, "warning", "redisai: cannot start Python from %s: %s", executable,
                        status.err_msg ? status.err_msg : "unknown error");
        return REDISMODULE_ERR;
    }
    /* Our package must win over the PyPI client also named `redisai`. */
    PyObject *sys_path = PySys_GetObject("path");
    PyObject *dir = PyUnicode_DecodeFSDefault(module_dir);
    int rc = (sys_path && dir) ? PyList_Insert(sys_path, 0, dir) : -1;
    Py_XDECREF(dir);
    if (rc < 0) {
        log_python_error(ctx, "cannot set sys.path");
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}

#define REDISAI_EXPORT __attribute__((visibility("default")))

REDISAI_EXPORT int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (rm_init_api(ctx, "ai", REDISAI_VERSION_NUM) != REDISMODULE_OK) return REDISMODULE_ERR;

    if (Py_IsInitialized()) {
        RedisModule_Log(ctx, "warning",
                        "redisai: a Python interpreter already runs in this server "
                        "(redisai was loaded before, or another module embeds Python)");
        return REDISMODULE_ERR;
    }
    Dl_info self;
    if (!dladdr((void *)&RedisModule_OnLoad, &self)) return REDISMODULE_ERR;
    /* Python's state will point into this object: never let Redis unmap it,
     * even if loading fails below. */
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    /* Our `redisai` package lies beside the real file, not beside a symbolic
     * link Redis may have been given. */
    char module_path[PATH_MAX];
    if (realpath(self.dli_fname, module_path) == NULL) {
        RedisModule_Log(ctx, "warning", "redisai: cannot resolve %s", self.dli_fname);
        return REDISMODULE_ERR;
    }
    const char *module_dir = dirname(module_path);

    const char *executable = python_executable_arg(argv, argc);
    if (start_python(ctx, executable ? executable : REDISAI_PYTHON_EXECUTABLE, module_dir) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;

    int rc = REDISMODULE_ERR;
    PyObject *core = PyImport_ImportModule("redisai.commands");
    if (core == NULL)
        log_python_error(ctx, "cannot import the redisai core");
    else
        rc = redisai_module_load(ctx, argv, argc, module_dir);
    Py_XDECREF(core);
    /* From here on the main thread runs without the GIL. */
    PyEval_SaveThread();
    return rc;
}

REDISAI_EXPORT int RedisModule_OnUnload(RedisModuleCtx *ctx) {
    /* An embedded interpreter cannot be torn down and started again. */
    RedisModule_Log(ctx, "warning", "redisai: the module cannot be unloaded; restart the server");
    return REDISMODULE_ERR;
}
