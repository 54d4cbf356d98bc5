/* A module that uses redisai's low-level API (csrc/redisai_llapi.h), as
 * another module would, for tests/test_llapi.py. Loaded after redisai; it
 * fetches the API on its first command (a later module's shared APIs are only
 * visible once it has loaded).
 *
 * Failures reply [code, message, one-line message] (an RAI_Error); the
 * commands are:
 *   LLAPI.VERSION
 *   LLAPI.TENSORCREATE key dtype ndims dim... [DOUBLES v... | LONGS v... | DATA blob]
 *   LLAPI.TENSORREAD key   -> [ndims, [dims], length, datasize, bytesize, [values], dim ndims]
 *   LLAPI.TENSORSETVALUE dtype n index DOUBLE|LONG value -> [set ok, get ok, value read]
 *   LLAPI.TENSORCONCAT dst key...  /  LLAPI.TENSORSLICE dst src offset len
 *   LLAPI.ERRORS model_key script_key
 *   LLAPI.MODELRUN SYNC|ASYNC|THREAD|BATCH|NOTHING|MISUSE model ninputs in... out...
 *   LLAPI.SCRIPTRUN SYNC|ASYNC|THREAD|MISUSE script fn ninputs in... nlist in... out...
 *     -> [OK, the thread that ran it or the callback: main or other]
 *   LLAPI.MODELCREATE backend[:batch:minbatch:minbatchtimeout] device blob ninputs in... out...
 *   LLAPI.SCRIPTCREATE device source fn ninputs in... out...
 *   LLAPI.DAG prefix [LOAD name key | SET name key | GET name | OPS text |
 *             MODEL key nin in... nout out... | SCRIPT key fn nin in... nout out... | MISUSE]...
 *     -> the number of outputs, stored at prefix0, prefix1...; MISUSE: the
 *        errors of GetAsModelRunCtx and GetAsScriptRunCtx on the DAG's ctx. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redismodule_api.h"
#include "redisai_llapi.h"

REDISAI_LLAPI_FUNCTIONS(REDISAI_LLAPI_DEFINE)

static int fetched = 0;
static pthread_t main_thread;

static int fetch_api(RedisModuleCtx *ctx) {
    REDISAI_LLAPI_FUNCTIONS(REDISAI_LLAPI_FETCH)
    return 0;
}

/* Fetches the API once; replies an error if it cannot. */
static int api(RedisModuleCtx *ctx) {
    if (!fetched && fetch_api(ctx) == 0 && RedisAI_GetLLAPIVersion() >= REDISAI_LLAPI_VERSION)
        fetched = 1;
    if (!fetched) RedisModule_ReplyWithError(ctx, "ERR redisai low-level API not available");
    return fetched;
}

static const char *arg(RedisModuleString *s) { return RedisModule_StringPtrLen(s, NULL); }

static long long num(RedisModuleString *s) {
    long long v = -1;
    RedisModule_StringToLongLong(s, &v);
    return v;
}

static int is(RedisModuleString *s, const char *word) { return strcasecmp(arg(s), word) == 0; }

static int reply_rai_error(RedisModuleCtx *ctx, RAI_Error *err) {
    RedisModule_ReplyWithArray(ctx, 3);
    RedisModule_ReplyWithLongLong(ctx, RedisAI_GetErrorCode(err));
    const char *text = RedisAI_GetError(err), *line = RedisAI_GetErrorOneLine(err);
    RedisModule_ReplyWithStringBuffer(ctx, text ? text : "", text ? strlen(text) : 0);
    RedisModule_ReplyWithStringBuffer(ctx, line ? line : "", line ? strlen(line) : 0);
    return REDISMODULE_OK;
}

/* A tensor key's value (borrowed), or NULL after replying an error. */
static RAI_Tensor *tensor_at(RedisModuleCtx *ctx, RedisModuleString *name) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, name, REDISMODULE_READ);
    RAI_Tensor *t = NULL;
    if (RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_MODULE &&
        RedisModule_ModuleTypeGetType(key) == RedisAI_TensorRedisType())
        t = RedisModule_ModuleTypeGetValue(key);
    RedisModule_CloseKey(key);
    if (t == NULL) RedisModule_ReplyWithError(ctx, "ERR not a tensor key");
    return t;
}

/* Stores a tensor reference at a key (the key takes it). */
static void store_tensor(RedisModuleCtx *ctx, RedisModuleString *name, RAI_Tensor *t) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, name, REDISMODULE_READ | REDISMODULE_WRITE);
    RedisModule_ModuleTypeSetValue(key, RedisAI_TensorRedisType(), t);
    RedisModule_CloseKey(key);
}

static void store_named(RedisModuleCtx *ctx, const char *name, RAI_Tensor *t) {
    RedisModuleString *key = RedisModule_CreateString(ctx, name, strlen(name));
    store_tensor(ctx, key, t);
    RedisModule_FreeString(ctx, key);
}

static int cmd_version(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    return RedisModule_ReplyWithLongLong(ctx, RedisAI_GetLLAPIVersion());
}

static int cmd_tensorcreate(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    int ndims = (int)num(argv[3]), i = 4 + ndims;
    long long dims[8];
    for (int d = 0; d < ndims && d < 8; d++) dims[d] = num(argv[4 + d]);
    RAI_Tensor *t = RedisAI_TensorCreate(arg(argv[2]), dims, ndims);
    if (t == NULL) return RedisModule_ReplyWithError(ctx, "ERR TensorCreate failed");
    int ok = 1;
    if (i < argc && is(argv[i], "DATA")) {
        size_t len;
        const char *data = RedisModule_StringPtrLen(argv[i + 1], &len);
        ok = RedisAI_TensorSetData(t, data, len);
    } else if (i < argc) {
        int doubles = is(argv[i], "DOUBLES");
        for (int k = i + 1; k < argc && ok; k++) {
            double d;
            RedisModule_StringToDouble(argv[k], &d);
            ok = doubles ? RedisAI_TensorSetValueFromDouble(t, k - i - 1, d)
                         : RedisAI_TensorSetValueFromLongLong(t, k - i - 1, num(argv[k]));
        }
    }
    if (!ok) {
        RedisAI_TensorFree(t);
        return RedisModule_ReplyWithError(ctx, "ERR setting the data failed");
    }
    store_tensor(ctx, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static void reply_value(RedisModuleCtx *ctx, RAI_Tensor *t, long long i) {
    double d;
    long long ll;
    if (RedisAI_TensorGetValueAsDouble(t, i, &d))
        RedisModule_ReplyWithDouble(ctx, d);
    else if (RedisAI_TensorGetValueAsLongLong(t, i, &ll))
        RedisModule_ReplyWithLongLong(ctx, ll);
    else
        RedisModule_ReplyWithNull(ctx);
}

static int cmd_tensorread(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Tensor *t = tensor_at(ctx, argv[1]);
    if (t == NULL) return REDISMODULE_OK;
    /* Read through a reference of our own, as a module keeping it would. */
    RAI_Tensor *copy = RedisAI_TensorGetShallowCopy(t);
    int ndims = RedisAI_TensorNumDims(copy);
    size_t n = RedisAI_TensorLength(copy);
    RedisModule_ReplyWithArray(ctx, 7);
    RedisModule_ReplyWithLongLong(ctx, ndims);
    RedisModule_ReplyWithArray(ctx, ndims);
    for (int d = 0; d < ndims; d++) RedisModule_ReplyWithLongLong(ctx, RedisAI_TensorDim(copy, d));
    RedisModule_ReplyWithLongLong(ctx, n);
    RedisModule_ReplyWithLongLong(ctx, RedisAI_TensorDataSize(copy));
    RedisModule_ReplyWithLongLong(ctx, RedisAI_TensorByteSize(copy));
    RedisModule_ReplyWithArray(ctx, n);
    for (size_t i = 0; i < n; i++) reply_value(ctx, copy, i);
    RedisModule_ReplyWithLongLong(ctx, RedisAI_TensorDim(copy, ndims)); /* past the last */
    RedisAI_TensorFree(copy);
    return REDISMODULE_OK;
}

static int cmd_tensorsetvalue(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    long long n = num(argv[2]), index = num(argv[3]);
    RAI_Tensor *t = RedisAI_TensorCreate(arg(argv[1]), &n, 1);
    if (t == NULL) return RedisModule_ReplyWithError(ctx, "ERR TensorCreate failed");
    double d;
    RedisModule_StringToDouble(argv[5], &d);
    int set = is(argv[4], "DOUBLE") ? RedisAI_TensorSetValueFromDouble(t, index, d)
                                    : RedisAI_TensorSetValueFromLongLong(t, index, num(argv[5]));
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithLongLong(ctx, set);
    reply_value(ctx, t, index);
    RedisAI_TensorFree(t);
    return REDISMODULE_OK;
}

static int cmd_tensorconcat(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Tensor *ts[16];
    int n = argc - 2;
    for (int i = 0; i < n && i < 16; i++)
        if ((ts[i] = tensor_at(ctx, argv[2 + i])) == NULL) return REDISMODULE_OK;
    RAI_Tensor *t = RedisAI_TensorCreateByConcatenatingTensors(ts, n);
    if (t == NULL) return RedisModule_ReplyWithError(ctx, "ERR concatenation failed");
    store_tensor(ctx, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int cmd_tensorslice(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Tensor *src = tensor_at(ctx, argv[2]);
    if (src == NULL) return REDISMODULE_OK;
    RAI_Tensor *t = RedisAI_TensorCreateBySlicingTensor(src, num(argv[3]), num(argv[4]));
    if (t == NULL) return RedisModule_ReplyWithError(ctx, "ERR slicing failed");
    store_tensor(ctx, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* The error API: the first error kept, cloning, clearing. */
static int cmd_errors(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Error *err, *clone;
    RAI_Model *model;
    RAI_Script *script;
    RedisAI_InitError(&err);
    RedisAI_InitError(&clone);
    int model_rc = RedisAI_GetModelFromKeyspace(ctx, argv[1], &model, REDISMODULE_READ, err);
    int script_rc = RedisAI_GetScriptFromKeyspace(ctx, argv[2], &script, REDISMODULE_READ, err);
    RedisAI_CloneError(clone, err);
    RedisModule_ReplyWithArray(ctx, 5);
    RedisModule_ReplyWithLongLong(ctx, model_rc);
    RedisModule_ReplyWithLongLong(ctx, script_rc);
    reply_rai_error(ctx, err); /* the first of the two */
    reply_rai_error(ctx, clone);
    RedisAI_ClearError(err);
    RedisModule_ReplyWithLongLong(ctx, RedisAI_GetErrorCode(err));
    RedisAI_FreeError(err);
    RedisAI_FreeError(clone);
    return REDISMODULE_OK;
}

/* ------------------------------------------------------------ model and script runs */

typedef struct Run {
    RedisModuleBlockedClient *bc;
    int script;
    int nctx; /* BATCH: 2 model contexts on the same inputs */
    int nothing; /* NOTHING: ModelRun of 0 contexts */
    RAI_Error *misuse; /* MISUSE: asynchronous; the callback first asks for the other kind of ctx */
    RAI_ModelRunCtx *mctx[2];
    RAI_ScriptRunCtx *sctx;
    int noutputs;
    RedisModuleString **outputs;
    RAI_Error *err;
    int rc;
    int on_main_thread; /* where the run or the callback happened */
} Run;

static void run_free(Run *run) {
    for (int j = 0; j < run->nctx; j++) RedisAI_ModelRunCtxFree(run->mctx[j]);
    if (run->sctx) RedisAI_ScriptRunCtxFree(run->sctx);
    for (int i = 0; i < run->noutputs; i++) RedisModule_FreeString(NULL, run->outputs[i]);
    free(run->outputs);
    RedisAI_FreeError(run->err);
    if (run->misuse) RedisAI_FreeError(run->misuse);
    free(run);
}

static RAI_Tensor *output(Run *run, int j, int i) {
    return run->script ? RedisAI_ScriptRunCtxOutputTensor(run->sctx, i)
                       : RedisAI_ModelRunCtxOutputTensor(run->mctx[j], i);
}

/* Main thread: stores the outputs (context j's at "<key>" or "<key>.<j>") and replies. */
static int finish_run(RedisModuleCtx *ctx, Run *run) {
    if (run->misuse) return reply_rai_error(ctx, run->misuse);
    if (run->rc != REDISMODULE_OK) return reply_rai_error(ctx, run->err);
    for (int j = 0; j < (run->script ? 1 : run->nctx); j++) {
        for (int i = 0; i < run->noutputs; i++) {
            RAI_Tensor *t = output(run, j, i);
            if (t == NULL) return RedisModule_ReplyWithError(ctx, "ERR missing output");
            char name[256];
            snprintf(name, sizeof name, j == 0 ? "%s" : "%s.%d", arg(run->outputs[i]), j);
            store_named(ctx, name, RedisAI_TensorGetShallowCopy(t));
        }
    }
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithSimpleString(ctx, "OK");
    return RedisModule_ReplyWithSimpleString(ctx, run->on_main_thread ? "main" : "other");
}

static int reply_blocked(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return finish_run(ctx, RedisModule_GetBlockedClientPrivateData(ctx));
}

static void free_blocked(RedisModuleCtx *ctx, void *privdata) { run_free(privdata); }

static void run_now(Run *run) {
    run->on_main_thread = pthread_equal(pthread_self(), main_thread);
    run->rc = run->script ? RedisAI_ScriptRun(run->sctx, run->err)
                          : RedisAI_ModelRun(run->mctx, run->nothing ? 0 : run->nctx, run->err);
}

static void *run_thread(void *arg) {
    Run *run = arg;
    run_now(run);
    RedisModule_UnblockClient(run->bc, run);
    return NULL;
}

static void on_finish(RAI_OnFinishCtx *finish, void *private_data) {
    Run *run = private_data;
    run->on_main_thread = pthread_equal(pthread_self(), main_thread);
    if (run->misuse && run->script)
        RedisAI_GetAsModelRunCtx(finish, run->misuse);
    else if (run->misuse)
        RedisAI_GetAsScriptRunCtx(finish, run->misuse);
    if (run->script)
        run->rc = RedisAI_GetAsScriptRunCtx(finish, run->err) == run->sctx &&
                  RedisAI_GetErrorCode(run->err) == RAI_OK ? REDISMODULE_OK : REDISMODULE_ERR;
    else
        run->rc = RedisAI_GetAsModelRunCtx(finish, run->err) == run->mctx[0] &&
                  RedisAI_GetErrorCode(run->err) == RAI_OK ? REDISMODULE_OK : REDISMODULE_ERR;
    RedisModule_UnblockClient(run->bc, run);
}

/* Runs `run` as `mode` asks; takes it. */
static int start_run(RedisModuleCtx *ctx, const char *mode, Run *run) {
    RedisAI_InitError(&run->err);
    run->nothing = strcasecmp(mode, "NOTHING") == 0;
    if (strcasecmp(mode, "SYNC") == 0 || strcasecmp(mode, "BATCH") == 0 || run->nothing) {
        run_now(run);
        int rc = finish_run(ctx, run);
        run_free(run);
        return rc;
    }
    run->bc = RedisModule_BlockClient(ctx, reply_blocked, NULL, free_blocked, 0);
    if (strcasecmp(mode, "MISUSE") == 0) RedisAI_InitError(&run->misuse);
    if (strcasecmp(mode, "THREAD") == 0) {
        pthread_t thread;
        pthread_create(&thread, NULL, run_thread, run);
        pthread_detach(thread);
    } else if (run->script) {
        RedisAI_ScriptRunAsync(run->sctx, on_finish, run);
    } else {
        RedisAI_ModelRunAsync(run->mctx[0], on_finish, run);
    }
    return REDISMODULE_OK;
}

static void take_outputs(Run *run, RedisModuleString **argv, int n) {
    run->noutputs = n;
    run->outputs = calloc(n + 1, sizeof(RedisModuleString *));
    for (int i = 0; i < n; i++) {
        run->outputs[i] = argv[i];
        RedisModule_RetainString(NULL, argv[i]);
    }
}

static int cmd_modelrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Model *model;
    RAI_Error *err;
    RedisAI_InitError(&err);
    if (RedisAI_GetModelFromKeyspace(ctx, argv[2], &model, REDISMODULE_READ, err) != REDISMODULE_OK) {
        reply_rai_error(ctx, err);
        RedisAI_FreeError(err);
        return REDISMODULE_OK;
    }
    RedisAI_FreeError(err);
    int ninputs = (int)num(argv[3]);
    Run *run = calloc(1, sizeof(Run));
    run->nctx = is(argv[1], "BATCH") ? 2 : 1;
    for (int j = 0; j < run->nctx; j++) {
        run->mctx[j] = RedisAI_ModelRunCtxCreate(model);
        for (int i = 0; i < ninputs; i++) {
            RAI_Tensor *t = tensor_at(ctx, argv[4 + i]);
            if (t == NULL) {
                run_free(run);
                return REDISMODULE_OK;
            }
            RedisAI_ModelRunCtxAddInput(run->mctx[j], arg(argv[4 + i]), t);
        }
        for (int i = 4 + ninputs; i < argc; i++) RedisAI_ModelRunCtxAddOutput(run->mctx[j], arg(argv[i]));
    }
    take_outputs(run, argv + 4 + ninputs, argc - 4 - ninputs);
    if (RedisAI_ModelRunCtxNumOutputs(run->mctx[0]) != (size_t)run->noutputs) {
        run_free(run);
        return RedisModule_ReplyWithError(ctx, "ERR ModelRunCtxNumOutputs");
    }
    return start_run(ctx, arg(argv[1]), run);
}

static int cmd_scriptrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Script *script;
    RAI_Error *err;
    RedisAI_InitError(&err);
    if (RedisAI_GetScriptFromKeyspace(ctx, argv[2], &script, REDISMODULE_READ, err) != REDISMODULE_OK) {
        reply_rai_error(ctx, err);
        RedisAI_FreeError(err);
        return REDISMODULE_OK;
    }
    int ninputs = (int)num(argv[4]);
    int nlist = (int)num(argv[5 + ninputs]);
    Run *run = calloc(1, sizeof(Run));
    run->script = 1;
    run->sctx = RedisAI_ScriptRunCtxCreate(script, arg(argv[3]));
    RAI_Tensor *list[16];
    for (int i = 0; i < ninputs + nlist && i < 16; i++) {
        int at = i < ninputs ? 5 + i : 6 + i;
        RAI_Tensor *t = tensor_at(ctx, argv[at]);
        if (t == NULL) {
            RedisAI_FreeError(err);
            run_free(run);
            return REDISMODULE_OK;
        }
        if (i < ninputs)
            RedisAI_ScriptRunCtxAddInput(run->sctx, t, err);
        else
            list[i - ninputs] = t;
    }
    if (nlist > 0) RedisAI_ScriptRunCtxAddInputList(run->sctx, list, nlist, err);
    RedisAI_FreeError(err);
    int first_out = 6 + ninputs + nlist;
    for (int i = first_out; i < argc; i++) RedisAI_ScriptRunCtxAddOutput(run->sctx);
    take_outputs(run, argv + first_out, argc - first_out);
    if (RedisAI_ScriptRunCtxNumOutputs(run->sctx) != (size_t)run->noutputs) {
        run_free(run);
        return RedisModule_ReplyWithError(ctx, "ERR ScriptRunCtxNumOutputs");
    }
    return start_run(ctx, arg(argv[1]), run);
}

/* Builds a model (or a script) with the API, checks ModelSerialize, runs it
 * synchronously on the given input keys and frees it. */
static int cmd_create(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int script) {
    if (!api(ctx)) return REDISMODULE_OK;
    RAI_Error *err;
    RedisAI_InitError(&err);
    RedisModuleString *tag = RedisModule_CreateString(ctx, "llapi", 5);
    size_t bloblen;
    const char *blob = RedisModule_StringPtrLen(argv[script ? 2 : 3], &bloblen);
    RAI_Model *model = NULL;
    RAI_Script *s = NULL;
    const int at = 4;
    if (script) {
        s = RedisAI_ScriptCreate((char *)arg(argv[1]), tag, blob, err);
    } else {
        /* "<backend>[:batchsize:minbatchsize:minbatchtimeout]" */
        RAI_ModelOpts opts = {0};
        sscanf(arg(argv[1]), "%*d:%zu:%zu:%zu", &opts.batchsize, &opts.minbatchsize,
               &opts.minbatchtimeout);
        model = RedisAI_ModelCreate(atoi(arg(argv[1])), (char *)arg(argv[2]), tag, opts, 0, NULL, 0,
                                    NULL, blob, bloblen, err);
    }
    RedisModule_FreeString(ctx, tag);
    if (model == NULL && s == NULL) {
        reply_rai_error(ctx, err);
        RedisAI_FreeError(err);
        return REDISMODULE_OK;
    }
    RedisAI_FreeError(err);
    if (model) {
        char *copy;
        size_t len;
        RedisAI_InitError(&err);
        int rc = RedisAI_ModelSerialize(model, &copy, &len, err);
        int same = rc == REDISMODULE_OK && len == bloblen && memcmp(copy, blob, len) == 0;
        RedisModule_Free(copy);
        RedisAI_FreeError(err);
        if (!same) {
            RedisAI_ModelFree(model, NULL);
            return RedisModule_ReplyWithError(ctx, "ERR ModelSerialize differs from the blob");
        }
    }
    Run *run = calloc(1, sizeof(Run));
    run->script = script;
    int ninputs = (int)num(argv[at]);
    if (script) {
        run->sctx = RedisAI_ScriptRunCtxCreate(s, arg(argv[3]));
        RedisAI_ScriptFree(s, NULL); /* the context holds its own reference */
    } else {
        run->nctx = 1;
        run->mctx[0] = RedisAI_ModelRunCtxCreate(model);
        RedisAI_ModelFree(model, NULL);
    }
    for (int i = 0; i < ninputs; i++) {
        RAI_Tensor *t = tensor_at(ctx, argv[at + 1 + i]);
        if (t == NULL) {
            run_free(run);
            return REDISMODULE_OK;
        }
        if (script)
            RedisAI_ScriptRunCtxAddTensorInput(run->sctx, t);
        else
            RedisAI_ModelRunCtxAddInput(run->mctx[0], "", t);
    }
    for (int i = at + 1 + ninputs; i < argc; i++) {
        if (script)
            RedisAI_ScriptRunCtxAddOutput(run->sctx);
        else
            RedisAI_ModelRunCtxAddOutput(run->mctx[0], "");
    }
    take_outputs(run, argv + at + 1 + ninputs, argc - at - 1 - ninputs);
    return start_run(ctx, "SYNC", run);
}

static int cmd_modelcreate(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return cmd_create(ctx, argv, argc, 0);
}

static int cmd_scriptcreate(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return cmd_create(ctx, argv, argc, 1);
}

/* ------------------------------------------------------------ DAGs */

typedef struct DagRun {
    RedisModuleBlockedClient *bc;
    RAI_DAGRunCtx *dag;
    RedisModuleString *prefix;
    int misuse;
    RAI_Error *misuse_err[2];
    int failed;
    RAI_Error *err; /* DAGGetError's, cloned */
    int noutputs;
    RAI_Tensor **outputs; /* references */
} DagRun;

static void dag_done(RAI_OnFinishCtx *finish, void *private_data) {
    DagRun *run = private_data;
    if (run->misuse) {
        RedisAI_GetAsModelRunCtx(finish, run->misuse_err[0]);
        RedisAI_GetAsScriptRunCtx(finish, run->misuse_err[1]);
    }
    run->failed = RedisAI_DAGRunError(finish);
    RedisAI_CloneError(run->err, RedisAI_DAGGetError(finish));
    run->noutputs = (int)RedisAI_DAGNumOutputs(finish);
    run->outputs = calloc(run->noutputs + 1, sizeof(RAI_Tensor *));
    for (int i = 0; i < run->noutputs; i++) {
        const RAI_Tensor *t = RedisAI_DAGOutputTensor(finish, i);
        run->outputs[i] = t ? RedisAI_TensorGetShallowCopy((RAI_Tensor *)t) : NULL;
    }
    RedisModule_UnblockClient(run->bc, run);
}

static void dag_run_free(DagRun *run) {
    RedisAI_DAGFree(run->dag);
    for (int i = 0; i < run->noutputs; i++)
        if (run->outputs[i]) RedisAI_TensorFree(run->outputs[i]);
    free(run->outputs);
    RedisAI_FreeError(run->err);
    RedisAI_FreeError(run->misuse_err[0]);
    RedisAI_FreeError(run->misuse_err[1]);
    RedisModule_FreeString(NULL, run->prefix);
    free(run);
}

static int dag_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    DagRun *run = RedisModule_GetBlockedClientPrivateData(ctx);
    if (run->misuse) {
        RedisModule_ReplyWithArray(ctx, 2);
        reply_rai_error(ctx, run->misuse_err[0]);
        return reply_rai_error(ctx, run->misuse_err[1]);
    }
    if (run->failed) return reply_rai_error(ctx, run->err);
    for (int i = 0; i < run->noutputs; i++) {
        if (run->outputs[i] == NULL) continue;
        char name[256];
        snprintf(name, sizeof name, "%s%d", arg(run->prefix), i);
        store_named(ctx, name, run->outputs[i]);
        run->outputs[i] = NULL;
    }
    return RedisModule_ReplyWithLongLong(ctx, run->noutputs);
}

static void dag_free_blocked(RedisModuleCtx *ctx, void *privdata) { dag_run_free(privdata); }

/* Adds a MODEL or SCRIPT op from argv[i...]; returns the next index, or -1 after replying. */
static int add_run_op(RedisModuleCtx *ctx, DagRun *run, RedisModuleString **argv, int i) {
    RAI_Error *err;
    RedisAI_InitError(&err);
    RAI_DAGRunOp *op = NULL;
    if (is(argv[i], "MODEL")) {
        RAI_Model *model;
        if (RedisAI_GetModelFromKeyspace(ctx, argv[i + 1], &model, REDISMODULE_READ, err) == REDISMODULE_OK)
            op = RedisAI_DAGCreateModelRunOp(model);
        i += 2;
    } else {
        RAI_Script *script;
        if (RedisAI_GetScriptFromKeyspace(ctx, argv[i + 1], &script, REDISMODULE_READ, err) == REDISMODULE_OK)
            op = RedisAI_DAGCreateScriptRunOp(script, arg(argv[i + 2]));
        i += 3;
    }
    if (op != NULL) {
        int n = (int)num(argv[i++]);
        for (int k = 0; k < n; k++) RedisAI_DAGRunOpAddInput(op, arg(argv[i++]));
        n = (int)num(argv[i++]);
        for (int k = 0; k < n; k++) RedisAI_DAGRunOpAddOutput(op, arg(argv[i++]));
        if (RedisAI_DAGAddRunOp(run->dag, op, err) != REDISMODULE_OK) {
            RedisAI_DAGRunOpFree(op);
            op = NULL;
        }
    }
    if (op == NULL) {
        reply_rai_error(ctx, err);
        i = -1;
    }
    RedisAI_FreeError(err);
    return i;
}

static int cmd_dag(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (!api(ctx)) return REDISMODULE_OK;
    DagRun *run = calloc(1, sizeof(DagRun));
    run->dag = RedisAI_DAGRunCtxCreate();
    run->prefix = argv[1];
    RedisModule_RetainString(NULL, argv[1]);
    RedisAI_InitError(&run->err);
    RedisAI_InitError(&run->misuse_err[0]);
    RedisAI_InitError(&run->misuse_err[1]);
    int i = 2;
    while (i > 0 && i < argc) {
        if (is(argv[i], "LOAD") || is(argv[i], "SET")) {
            RAI_Tensor *t = tensor_at(ctx, argv[i + 2]);
            if (t == NULL) {
                i = -1;
                break;
            }
            int rc = is(argv[i], "SET") ? RedisAI_DAGAddTensorSet(run->dag, arg(argv[i + 1]), t)
                                        : RedisAI_DAGLoadTensor(run->dag, arg(argv[i + 1]), t);
            if (rc != REDISMODULE_OK) {
                RedisModule_ReplyWithError(ctx, "ERR DAGLoadTensor refused");
                i = -1;
                break;
            }
            i += 3;
        } else if (is(argv[i], "GET")) {
            RedisAI_DAGAddTensorGet(run->dag, arg(argv[i + 1]));
            i += 2;
        } else if (is(argv[i], "OPS")) {
            if (RedisAI_DAGAddOpsFromString(run->dag, arg(argv[i + 1]), run->err) != REDISMODULE_OK) {
                reply_rai_error(ctx, run->err);
                i = -1;
                break;
            }
            i += 2;
        } else if (is(argv[i], "MISUSE")) {
            run->misuse = 1;
            i += 1;
        } else {
            i = add_run_op(ctx, run, argv, i);
        }
    }
    if (i < 0) {
        dag_run_free(run);
        return REDISMODULE_OK;
    }
    run->bc = RedisModule_BlockClient(ctx, dag_reply, NULL, dag_free_blocked, 0);
    if (RedisAI_DAGRun(run->dag, dag_done, run, run->err) != REDISMODULE_OK) {
        /* Never queued: answer now. */
        RedisModule_UnblockClient(run->bc, run);
        run->failed = 1;
    }
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (rm_init_api(ctx, "llapi_client", 1) != REDISMODULE_OK) return REDISMODULE_ERR;
    main_thread = pthread_self();
    struct {
        const char *name;
        RedisModuleCmdFunc fn;
    } commands[] = {
        {"LLAPI.VERSION", cmd_version},           {"LLAPI.TENSORCREATE", cmd_tensorcreate},
        {"LLAPI.TENSORREAD", cmd_tensorread},     {"LLAPI.TENSORSETVALUE", cmd_tensorsetvalue},
        {"LLAPI.TENSORCONCAT", cmd_tensorconcat}, {"LLAPI.TENSORSLICE", cmd_tensorslice},
        {"LLAPI.ERRORS", cmd_errors},             {"LLAPI.MODELRUN", cmd_modelrun},
        {"LLAPI.SCRIPTRUN", cmd_scriptrun},       {"LLAPI.MODELCREATE", cmd_modelcreate},
        {"LLAPI.SCRIPTCREATE", cmd_scriptcreate}, {"LLAPI.DAG", cmd_dag},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (RedisModule_CreateCommand(ctx, commands[i].name, commands[i].fn, "write", 0, 0, 0) !=
            REDISMODULE_OK)
            return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
