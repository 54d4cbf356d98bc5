/* The low-level API that redisai exports to other Redis modules (see the
 * README, "For module authors"). Every function X below is exported with
 * RedisModule_ExportSharedAPI under the name "RedisAI_X"; a module that loads
 * after redisai fetches each with RedisModule_GetSharedAPI and should check
 * RedisAI_GetLLAPIVersion() >= REDISAI_LLAPI_VERSION.
 *
 * Ownership: tensors, models and scripts are reference-counted; a function
 * that returns one hands the caller a reference (drop it with the matching
 * *Free), except GetModelFromKeyspace / GetScriptFromKeyspace, which lend the
 * key's value while the caller holds the server lock. Run contexts take their
 * own references to what is added to them. Functions returning int answer
 * REDISMODULE_OK (0) / REDISMODULE_ERR (1), except the tensor value functions,
 * which answer 1 on success and 0 on failure. */
#ifndef REDISAI_LLAPI_H
#define REDISAI_LLAPI_H

#include <stddef.h>

#define REDISAI_LLAPI_VERSION 1

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleType RedisModuleType;

/* Opaque to the caller. */
typedef struct RAI_Tensor RAI_Tensor;
typedef struct RAI_Model RAI_Model;
typedef struct RAI_Script RAI_Script;
typedef struct RAI_ModelRunCtx RAI_ModelRunCtx;
typedef struct RAI_ScriptRunCtx RAI_ScriptRunCtx;
typedef struct RAI_DAGRunCtx RAI_DAGRunCtx;
typedef struct RAI_DAGRunOp RAI_DAGRunOp;
typedef struct RAI_Error RAI_Error;
typedef struct RAI_OnFinishCtx RAI_OnFinishCtx;

/* Called on a redisai worker thread when an asynchronous run completes: take
 * the server lock (RedisModule_ThreadSafeContextLock) before touching keys. */
typedef void (*RAI_OnFinishCB)(RAI_OnFinishCtx *ctx, void *private_data);

typedef struct RAI_ModelOpts {
    size_t batchsize;
    size_t minbatchsize;
    size_t minbatchtimeout;
    long long backends_intra_op_parallelism; /* 0: the module's setting */
    long long backends_inter_op_parallelism;
} RAI_ModelOpts;

#define RAI_BACKEND_TENSORFLOW 0
#define RAI_BACKEND_TFLITE 1
#define RAI_BACKEND_TORCH 2
#define RAI_BACKEND_ONNXRUNTIME 3

#define RAI_DEVICE_CPU 0
#define RAI_DEVICE_GPU 1

typedef enum RAI_ErrorCode {
    RAI_OK = 0,
    RAI_EMODELIMPORT,
    RAI_EMODELCONFIGURE,
    RAI_EMODELCREATE,
    RAI_EMODELRUN,
    RAI_EMODELSERIALIZE,
    RAI_EMODELFREE,
    RAI_ESCRIPTIMPORT,
    RAI_ESCRIPTCONFIGURE,
    RAI_ESCRIPTCREATE,
    RAI_ESCRIPTRUN,
    RAI_EUNSUPPORTEDBACKEND,
    RAI_EBACKENDNOTLOADED,
    RAI_ESCRIPTFREE,
    RAI_ETENSORSET,
    RAI_ETENSORGET,
    RAI_EDAGBUILDER,
    RAI_EDAGRUN,
    RAI_EFINISHCTX,
    RAI_EKEYEMPTY,
} RAI_ErrorCode;

/* X(return type, name, parameters) for every exported function. The `tag` of
 * ModelCreate and ScriptCreate is a module string, as the reference module
 * reads it (its own header says `char *`). */
#define REDISAI_LLAPI_FUNCTIONS(X)                                                              \
    X(int, GetLLAPIVersion, (void))                                                             \
    /* errors: only the first error set on an RAI_Error is kept until cleared */                \
    X(int, InitError, (RAI_Error **err))                                                        \
    X(void, ClearError, (RAI_Error *err))                                                       \
    X(void, FreeError, (RAI_Error *err))                                                        \
    X(const char *, GetError, (RAI_Error *err))                                                 \
    X(const char *, GetErrorOneLine, (RAI_Error *err))                                          \
    X(RAI_ErrorCode, GetErrorCode, (RAI_Error *err))                                            \
    X(void, CloneError, (RAI_Error *dest, const RAI_Error *src))                                \
    /* tensors */                                                                               \
    X(RAI_Tensor *, TensorCreate, (const char *dataType, long long *dims, int ndims))           \
    X(RAI_Tensor *, TensorCreateByConcatenatingTensors, (RAI_Tensor **ts, long long n))         \
    X(RAI_Tensor *, TensorCreateBySlicingTensor, (RAI_Tensor *t, long long offset,              \
                                                  long long len))                               \
    X(size_t, TensorLength, (RAI_Tensor *t))                                                    \
    X(size_t, TensorDataSize, (RAI_Tensor *t))                                                  \
    X(void, TensorFree, (RAI_Tensor *t))                                                        \
    X(int, TensorSetData, (RAI_Tensor *t, const char *data, size_t len))                        \
    X(int, TensorSetValueFromLongLong, (RAI_Tensor *t, long long i, long long val))             \
    X(int, TensorSetValueFromDouble, (RAI_Tensor *t, long long i, double val))                  \
    X(int, TensorGetValueAsDouble, (RAI_Tensor *t, long long i, double *val))                   \
    X(int, TensorGetValueAsLongLong, (RAI_Tensor *t, long long i, long long *val))              \
    X(RAI_Tensor *, TensorGetShallowCopy, (RAI_Tensor *t))                                      \
    X(int, TensorNumDims, (RAI_Tensor *t))                                                      \
    X(long long, TensorDim, (RAI_Tensor *t, int dim))                                           \
    X(size_t, TensorByteSize, (RAI_Tensor *t))                                                  \
    X(char *, TensorData, (RAI_Tensor *t))                                                      \
    X(RedisModuleType *, TensorRedisType, (void))                                               \
    /* models */                                                                                \
    X(RAI_Model *, ModelCreate, (int backend, char *devicestr, RedisModuleString *tag,          \
                                 RAI_ModelOpts opts, size_t ninputs, const char **inputs,       \
                                 size_t noutputs, const char **outputs, const char *modeldef,   \
                                 size_t modellen, RAI_Error *err))                              \
    X(void, ModelFree, (RAI_Model *model, RAI_Error *err))                                      \
    X(int, GetModelFromKeyspace, (RedisModuleCtx *ctx, RedisModuleString *keyName,              \
                                  RAI_Model **model, int mode, RAI_Error *err))                 \
    X(RAI_ModelRunCtx *, ModelRunCtxCreate, (RAI_Model *model))                                 \
    X(int, ModelRunCtxAddInput, (RAI_ModelRunCtx *mctx, const char *inputName,                  \
                                 RAI_Tensor *inputTensor))                                      \
    X(int, ModelRunCtxAddOutput, (RAI_ModelRunCtx *mctx, const char *outputName))               \
    X(size_t, ModelRunCtxNumOutputs, (RAI_ModelRunCtx *mctx))                                   \
    X(RAI_Tensor *, ModelRunCtxOutputTensor, (RAI_ModelRunCtx *mctx, size_t index))             \
    X(void, ModelRunCtxFree, (RAI_ModelRunCtx *mctx))                                           \
    X(int, ModelRun, (RAI_ModelRunCtx **mctxs, long long n, RAI_Error *err))                    \
    X(int, ModelRunAsync, (RAI_ModelRunCtx *mctx, RAI_OnFinishCB cb, void *private_data))       \
    X(RAI_ModelRunCtx *, GetAsModelRunCtx, (RAI_OnFinishCtx *ctx, RAI_Error *err))              \
    X(int, ModelSerialize, (RAI_Model *model, char **buffer, size_t *len, RAI_Error *err))      \
    X(RAI_Model *, ModelGetShallowCopy, (RAI_Model *model))                                     \
    X(RedisModuleType *, ModelRedisType, (void))                                                \
    /* scripts */                                                                               \
    X(RAI_Script *, ScriptCreate, (char *devicestr, RedisModuleString *tag,                     \
                                   const char *scriptdef, RAI_Error *err))                      \
    X(int, GetScriptFromKeyspace, (RedisModuleCtx *ctx, RedisModuleString *keyName,             \
                                   RAI_Script **script, int mode, RAI_Error *err))              \
    X(void, ScriptFree, (RAI_Script *script, RAI_Error *err))                                   \
    X(RAI_ScriptRunCtx *, ScriptRunCtxCreate, (RAI_Script *script, const char *fnname))         \
    X(int, ScriptRunCtxAddInput, (RAI_ScriptRunCtx *sctx, RAI_Tensor *inputTensor,              \
                                  RAI_Error *err))                                              \
    X(int, ScriptRunCtxAddInputList, (RAI_ScriptRunCtx *sctx, RAI_Tensor **inputTensors,        \
                                      size_t len, RAI_Error *err))                              \
    X(int, ScriptRunCtxAddTensorInput, (RAI_ScriptRunCtx *sctx, RAI_Tensor *inputTensor))       \
    X(int, ScriptRunCtxAddTensorInputList, (RAI_ScriptRunCtx *sctx,                             \
                                            RAI_Tensor **inputTensors, size_t count))           \
    X(int, ScriptRunCtxAddOutput, (RAI_ScriptRunCtx *sctx))                                     \
    X(size_t, ScriptRunCtxNumOutputs, (RAI_ScriptRunCtx *sctx))                                 \
    X(RAI_Tensor *, ScriptRunCtxOutputTensor, (RAI_ScriptRunCtx *sctx, size_t index))           \
    X(void, ScriptRunCtxFree, (RAI_ScriptRunCtx *sctx))                                         \
    X(int, ScriptRun, (RAI_ScriptRunCtx *sctx, RAI_Error *err))                                 \
    X(int, ScriptRunAsync, (RAI_ScriptRunCtx *sctx, RAI_OnFinishCB cb, void *private_data))     \
    X(RAI_ScriptRunCtx *, GetAsScriptRunCtx, (RAI_OnFinishCtx *ctx, RAI_Error *err))            \
    X(RAI_Script *, ScriptGetShallowCopy, (RAI_Script *script))                                 \
    X(RedisModuleType *, ScriptRedisType, (void))                                               \
    /* DAGs */                                                                                  \
    X(RAI_DAGRunCtx *, DAGRunCtxCreate, (void))                                                 \
    X(RAI_DAGRunOp *, DAGCreateModelRunOp, (RAI_Model *model))                                  \
    X(RAI_DAGRunOp *, DAGCreateScriptRunOp, (RAI_Script *script, const char *func_name))        \
    X(int, DAGRunOpAddInput, (RAI_DAGRunOp *op, const char *input))                             \
    X(int, DAGRunOpAddOutput, (RAI_DAGRunOp *op, const char *output))                           \
    X(int, DAGAddRunOp, (RAI_DAGRunCtx *dag, RAI_DAGRunOp *op, RAI_Error *err))                 \
    X(int, DAGLoadTensor, (RAI_DAGRunCtx *dag, const char *t_name, RAI_Tensor *tensor))         \
    X(int, DAGAddTensorSet, (RAI_DAGRunCtx *dag, const char *t_name, RAI_Tensor *tensor))       \
    X(int, DAGAddTensorGet, (RAI_DAGRunCtx *dag, const char *t_name))                           \
    X(int, DAGAddOpsFromString, (RAI_DAGRunCtx *dag, const char *dag_str, RAI_Error *err))      \
    X(size_t, DAGNumOps, (RAI_DAGRunCtx *dag))                                                  \
    X(int, DAGRun, (RAI_DAGRunCtx *dag, RAI_OnFinishCB cb, void *private_data,                  \
                    RAI_Error *err))                                                            \
    X(size_t, DAGNumOutputs, (RAI_OnFinishCtx *finish_ctx))                                     \
    X(const RAI_Tensor *, DAGOutputTensor, (RAI_OnFinishCtx *finish_ctx, size_t index))         \
    X(int, DAGRunError, (RAI_OnFinishCtx *finish_ctx))                                          \
    X(const RAI_Error *, DAGGetError, (RAI_OnFinishCtx *finish_ctx))                            \
    X(void, DAGRunOpFree, (RAI_DAGRunOp *op))                                                   \
    X(void, DAGFree, (RAI_DAGRunCtx *dag))

/* For the consumer: one pointer per function, declared here... */
#define REDISAI_LLAPI_DECLARE(ret, name, args) extern ret(*RedisAI_##name) args;
/* ...defined in one of its C files with REDISAI_LLAPI_FUNCTIONS(REDISAI_LLAPI_DEFINE)... */
#define REDISAI_LLAPI_DEFINE(ret, name, args) ret(*RedisAI_##name) args = NULL;
/* ...and filled with REDISAI_LLAPI_FUNCTIONS(REDISAI_LLAPI_FETCH) in a function of
 * its own that has `ctx` and returns int (REDISMODULE_ERR if one is missing). */
#define REDISAI_LLAPI_FETCH(ret, name, args)                                                    \
    if ((RedisAI_##name = (ret(*) args)RedisModule_GetSharedAPI(ctx, "RedisAI_" #name)) == NULL) \
        return 1;

#ifndef REDISAI_LLAPI_IMPLEMENTATION
REDISAI_LLAPI_FUNCTIONS(REDISAI_LLAPI_DECLARE)
#endif

#endif
