/* cli/cmd_train.c - `wattscale train [FLAGS]`: flags to ws_train_opts, then ws_train_run.
 * defines: ws_cmd_train. Flag names follow design.md (they are a stable interface); every
 * flag is explained by --help. Exit status: 0 done, 1 the run failed, 2 bad flags. */
#include "cli/commands.h"
#include "core/log.h"
#include "train/meter_gpus.h"
#include "train/train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: wattscale train [FLAGS]\n"
            "\n"
            "Trains a model, measuring time, predictive performance and energy; writes OUT/run.json\n"
            "(schema wattscale.run/1), OUT/checkpoint.wstf and OUT/power.csv.\n"
            "\n"
            "model\n"
            "  --model NAME            resnet18 | resnet34 | resnet50 (default) | resnet101 | resnet152 |\n"
            "                          afno (FourCastNet; forecasts --data swe:DIR or era5:DIR)\n"
            "  --width N               base width (64 as torchvision; smaller for quick runs)\n"
            "  --small-stem | --imagenet-stem   3x3/1 conv without pool, or 7x7/2 conv + pool\n"
            "                          (default: small for inputs of 64 px or less)\n"
            "  --zero-init-residual    zero the last BN weight of each residual block\n"
            "afno (FourCastNet's AFNONet; defaults: its full configuration, the grid and channels from the data)\n"
            "  --img HxW               keep the data's first H rows and W columns (default: the whole grid;\n"
            "                          ERA5's 721x1440: --img 720x1440, as FourCastNet)\n"
            "  --patch N (8)  --embed N (768)  --depth N (12)  --afno-blocks N (8)  --mlp-ratio X (4)\n"
            "  --sparsity X (0.01, the soft-shrink lambda)  --hard-threshold F (1, fraction of modes kept)\n"
            "  --forecast-steps 1|2    1: pre-training on one step (6 h); 2: fine-tuning on the sum of the\n"
            "                          rel-L2 losses of two autoregressive steps (FourCastNet's two_step_training)\n"
            "  --residual              the model predicts the change of the fields, forecasting x + f(x)\n"
            "                          (FourCastNet's target: residual; one step)\n"
            "  --rollout-steps N       once training ends: RMSE/ACC at 1..N steps (6 h, 12 h, ...) of a rollout\n"
            "  --init-from DIR         start from the parameters of the run in DIR (its checkpoint.wstf), e.g. a\n"
            "                          pre-trained model to fine-tune; optimizer state and epochs start anew\n"
            "  With --model afno the optimisation defaults are FourCastNet's: --optimizer adam --weight-decay 0\n"
            "  --lr 5e-4 --lr-rule none --warmup-epochs 0 --schedule cosine (each flag given wins).\n"
            "data\n"
            "  --data SPEC             synthetic (default) | fashion-mnist[:DIR] | mnist[:DIR] | imagenet:DIR\n"
            "                          | swe:DIR | era5:DIR (weather fields in FourCastNet's layout, for afno;\n"
            "                          make swe data with `wattscale data swe --out DIR`)\n"
            "                          | synthetic-weather[:CxHxW] (random N(0,1) fields, no file, for afno\n"
            "                          benchmarks; default 20x720x1440; --synthetic-count train samples)\n"
            "                          (DIR default /usr/share/datasets/fashion-mnist; imagenet: DIR/train/<class>/\n"
            "                          *.JPEG and DIR/val/<class>/*.JPEG, or a flat DIR/val with a label file)\n"
            "  --val-labels FILE       imagenet, flat val: LOC_val_solution.csv or lines \"FILE CLASS\"\n"
            "  --crop-size N           imagenet: sample side (224)   --resize-size N  val's shorter side (256)\n"
            "  --crop-scale MIN,MAX    imagenet: RandomResizedCrop area range (0.08,1; the study: 0.5,1)\n"
            "  --no-dct-scaling        imagenet: decode JPEGs at full size (slower; as nvJPEG does)\n"
            "  --data-threads N        data loader decode threads (default: all cores)\n"
            "  --decoder cpu|nvjpeg    JPEG decoding on the CPU (libjpeg-turbo, default) or the GPU (nvJPEG)\n"
            "  --eval-data loader|direct  validation batches decoded ahead by a loader's threads (default),\n"
            "                          or each loaded when it is evaluated (the reference path, same numbers)\n"
            "  --upload-ahead on|off   with --device cuda: copy each batch to the GPU while the step before\n"
            "                          computes (on, the default), or when its step starts (off: the\n"
            "                          synchronous order, the same numbers)\n"
            "  --synthetic-shape CxHxW shape of synthetic samples (default 3x224x224)\n"
            "  --synthetic-classes N   (default 1000)    --synthetic-count N  train samples (default 2560)\n"
            "  --synthetic-on-host     with --device cuda: the CPU generator's samples, uploaded (default:\n"
            "                          generated on the GPU, same distribution, other numbers)\n"
            "  --data-fraction F       class-stratified fraction of train and val, 0 < F <= 1 (default 1)\n"
            "batches (GBS = LBS x world x accum; give any two)\n"
            "  --global-batch N  --local-batch N  --accum N\n"
            "stopping\n"
            "  --epochs N | --steps N  whole epochs, or a number of optimizer steps\n"
            "  --target METRIC=VALUE   stop when val_top1/val_top5 (afno: val_acc) reaches, or val_loss\n"
            "                          (afno: val_rmse_norm, RMSE/std over channels) falls to, VALUE\n"
            "optimisation\n"
            "  --optimizer NAME        sgd (default) | lars | adam | adamw\n"
            "  --lr X                  base learning rate at GBS 256 (default 0.1)\n"
            "  --lr-rule RULE          linear (default: lr x GBS/256) | sqrt | none\n"
            "  --warmup-epochs E       linear warm-up from the base to the scaled lr (default 5, as the study)\n"
            "  --schedule NAME         plateau (default) | cosine | multistep | poly | constant\n"
            "  --schedule-epochs E     cosine/poly horizon (default: the run's epochs)\n"
            "  --plateau-factor F  --plateau-patience N  --min-lr X  --milestones E1,E2,..  --gamma G\n"
            "  --momentum M (0.9)  --nesterov  --weight-decay W (1e-4)  --no-decay-bn-bias\n"
            "  --label-smoothing E     (default 0)\n"
            "execution\n"
            "  --device cpu|cuda       (default cpu)      --precision fp32|tf32|bf16|fp16 (default fp32)\n"
            "                          cuda: NHWC, cuDNN/cuBLAS; fp32 never uses TF32; bf16/fp16 keep fp32\n"
            "                          master weights and statistics; fp16 adds dynamic loss scaling\n"
            "  --gpu N                 GPU index (default: the local rank's, local rank %% visible GPUs)\n"
            "  --cuda-graph auto|on|off  replay each step as one CUDA graph (auto: single rank, no --accum)\n"
            "  --deterministic         deterministic cuDNN algorithms only\n"
            "  --timing-warmup-steps N steady-state throughput and J/sample from step N+1 (default 10)\n"
            "  --threads N             CPU threads (default: all)\n"
            "  --seed N                weights, data order and synthetic data (default 0)\n"
            "output\n"
            "  --out DIR               (default out/train)      --resume DIR   continue a checkpointed run\n"
            "  --eval-every N  --checkpoint-every N (epochs)  --log-every N (steps; default ~10 s)\n"
            "  --val-limit N           evaluate on at most N validation samples\n"
            "  --step-log FILE         CSV epoch,step,loss,lr of every step (loss averaged over ranks)\n"
            "  --meter-interval MS     energy sampling interval (default 100)\n"
            "  --meter-gpus used|all   GPUs whose energy counts: those the ranks use, found by UUID (default;\n"
            "                          none on --device cpu), or every GPU of each node (an exclusive node)\n"
            "data parallelism (launch with mpirun -np N or srun; the world comes from the launcher)\n"
            "  --bucket-mb MB          gradient all-reduce bucket size (default 25)\n"
            "  --watchdog S            end the job when a rank makes no progress for S seconds (600; 0 off)\n"
            "  --quiet\n");
}

static int bad(const char *flag, const char *value, const char *want) {
    fprintf(stderr, "wattscale train: %s %s: %s (see --help)\n", flag, value ? value : "", want);
    return 2;
}

static int to_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int to_double(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !end || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int ws_cmd_train(int argc, char **argv) {
    ws_train_opts o = ws_train_opts_default();
    int optimizer_given = 0, recipe_given = 0; /* recipe: 1 --lr, 2 --lr-rule, 4 --warmup-epochs, 8 --schedule */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l = 0;
        double d = 0;
#define NEED_VALUE()                                                                                                   \
    do {                                                                                                               \
        if (!v) return bad(a, "", "needs a value");                                                                    \
        i++;                                                                                                           \
    } while (0)
#define LONG_ARG(lo, hi)                                                                                               \
    do {                                                                                                               \
        NEED_VALUE();                                                                                                  \
        if (to_long(v, lo, hi, &l)) return bad(a, v, "wants an integer from " #lo " to " #hi);                        \
    } while (0)
#define DOUBLE_ARG(lo, hi)                                                                                             \
    do {                                                                                                               \
        NEED_VALUE();                                                                                                  \
        if (to_double(v, lo, hi, &d)) return bad(a, v, "wants a number from " #lo " to " #hi);                        \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model")) {
            NEED_VALUE();
            snprintf(o.model, sizeof o.model, "%s", v);
        } else if (!strcmp(a, "--width")) {
            LONG_ARG(1, 4096);
            o.base_width = (int)l;
        } else if (!strcmp(a, "--small-stem")) {
            o.small_stem = 1;
        } else if (!strcmp(a, "--imagenet-stem")) {
            o.small_stem = 0;
        } else if (!strcmp(a, "--zero-init-residual")) {
            o.zero_init_residual = 1;
        } else if (!strcmp(a, "--img")) {
            NEED_VALUE();
            char tail;
            if (sscanf(v, "%dx%d%c", &o.img_h, &o.img_w, &tail) != 2 || o.img_h < 1 || o.img_w < 1)
                return bad(a, v, "wants HxW, e.g. 720x1440");
        } else if (!strcmp(a, "--patch")) {
            LONG_ARG(1, 4096);
            o.afno_patch = (int)l;
        } else if (!strcmp(a, "--embed")) {
            LONG_ARG(1, 1 << 16);
            o.afno_embed = (int)l;
        } else if (!strcmp(a, "--depth")) {
            LONG_ARG(1, 1024);
            o.afno_depth = (int)l;
        } else if (!strcmp(a, "--afno-blocks")) {
            LONG_ARG(1, 1 << 16);
            o.afno_blocks = (int)l;
        } else if (!strcmp(a, "--mlp-ratio")) {
            DOUBLE_ARG(0.001, 1024);
            o.afno_mlp_ratio = d;
        } else if (!strcmp(a, "--sparsity")) {
            DOUBLE_ARG(0, 1e6);
            o.afno_sparsity = d;
        } else if (!strcmp(a, "--hard-threshold")) {
            DOUBLE_ARG(0, 1);
            o.afno_hard_threshold = d;
        } else if (!strcmp(a, "--forecast-steps")) {
            LONG_ARG(1, 2);
            o.forecast_steps = (int)l;
        } else if (!strcmp(a, "--residual")) {
            o.forecast_residual = 1;
        } else if (!strcmp(a, "--rollout-steps")) {
            LONG_ARG(0, 10000);
            o.rollout_steps = (int)l;
        } else if (!strcmp(a, "--init-from")) {
            NEED_VALUE();
            snprintf(o.init_from, sizeof o.init_from, "%s", v);
        } else if (!strcmp(a, "--data")) {
            NEED_VALUE();
            snprintf(o.data, sizeof o.data, "%s", v);
        } else if (!strcmp(a, "--synthetic-shape")) {
            NEED_VALUE();
            if (sscanf(v, "%dx%dx%d", &o.synthetic_c, &o.synthetic_h, &o.synthetic_w) != 3 || o.synthetic_c < 1 ||
                o.synthetic_h < 1 || o.synthetic_w < 1)
                return bad(a, v, "wants CxHxW, e.g. 3x224x224");
        } else if (!strcmp(a, "--synthetic-classes")) {
            LONG_ARG(2, 1000000);
            o.synthetic_classes = (int)l;
        } else if (!strcmp(a, "--synthetic-count")) {
            LONG_ARG(1, 100000000);
            o.synthetic_count = (size_t)l;
        } else if (!strcmp(a, "--synthetic-on-host")) {
            o.synthetic_on_host = 1;
        } else if (!strcmp(a, "--val-labels")) {
            NEED_VALUE();
            snprintf(o.val_labels, sizeof o.val_labels, "%s", v);
        } else if (!strcmp(a, "--crop-size")) {
            LONG_ARG(1, 4096);
            o.crop_size = (int)l;
        } else if (!strcmp(a, "--resize-size")) {
            LONG_ARG(1, 8192);
            o.resize_size = (int)l;
        } else if (!strcmp(a, "--crop-scale")) {
            NEED_VALUE();
            char *comma = strchr(v, ',');
            char lo_s[64];
            size_t n = comma ? (size_t)(comma - v) : 0;
            if (!comma || n >= sizeof lo_s) return bad(a, v, "wants MIN,MAX, e.g. 0.5,1");
            memcpy(lo_s, v, n);
            lo_s[n] = 0;
            if (to_double(lo_s, 1e-6, 1, &o.crop_scale_min) || to_double(comma + 1, 1e-6, 1, &o.crop_scale_max) ||
                o.crop_scale_min > o.crop_scale_max)
                return bad(a, v, "wants MIN,MAX with 0 < MIN <= MAX <= 1, e.g. 0.5,1");
        } else if (!strcmp(a, "--no-dct-scaling")) {
            o.dct_scaling = 0;
        } else if (!strcmp(a, "--data-threads")) {
            LONG_ARG(0, 1024);
            o.data_threads = (int)l;
        } else if (!strcmp(a, "--decoder")) {
            NEED_VALUE();
            if (!strcmp(v, "cpu")) o.decoder = 0;
            else if (!strcmp(v, "nvjpeg")) o.decoder = 1;
            else return bad(a, v, "is cpu or nvjpeg");
        } else if (!strcmp(a, "--eval-data")) {
            NEED_VALUE();
            if (!strcmp(v, "loader")) o.eval_direct = 0;
            else if (!strcmp(v, "direct")) o.eval_direct = 1;
            else return bad(a, v, "is loader or direct");
        } else if (!strcmp(a, "--upload-ahead")) {
            NEED_VALUE();
            if (!strcmp(v, "on")) o.upload_ahead = 1;
            else if (!strcmp(v, "off")) o.upload_ahead = 0;
            else return bad(a, v, "is on or off");
        } else if (!strcmp(a, "--data-fraction")) {
            DOUBLE_ARG(1e-9, 1);
            o.data_fraction = d;
        } else if (!strcmp(a, "--global-batch")) {
            LONG_ARG(1, 1 << 24);
            o.global_batch = (int)l;
        } else if (!strcmp(a, "--local-batch")) {
            LONG_ARG(1, 1 << 20);
            o.local_batch = (int)l;
        } else if (!strcmp(a, "--accum")) {
            LONG_ARG(1, 1 << 16);
            o.accum = (int)l;
        } else if (!strcmp(a, "--epochs")) {
            LONG_ARG(1, 1000000);
            o.epochs = (int)l;
            o.steps = 0;
        } else if (!strcmp(a, "--steps")) {
            LONG_ARG(1, 1000000000L);
            o.steps = l;
            o.epochs = 0;
        } else if (!strcmp(a, "--target")) {
            NEED_VALUE();
            const char *eq = strchr(v, '=');
            size_t n = eq ? (size_t)(eq - v) : 0;
            if (!eq || n >= sizeof o.target_metric || to_double(eq + 1, -1e30, 1e30, &o.target_value))
                return bad(a, v, "wants METRIC=VALUE, e.g. val_top1=0.75");
            memcpy(o.target_metric, v, n);
            o.target_metric[n] = 0;
            if (strcmp(o.target_metric, "val_top1") && strcmp(o.target_metric, "val_top5") &&
                strcmp(o.target_metric, "val_loss") && strcmp(o.target_metric, "val_rmse_norm") &&
                strcmp(o.target_metric, "val_acc"))
                return bad(a, v, "METRIC is val_top1, val_top5 or val_loss (afno: val_rmse_norm, val_acc, val_loss)");
        } else if (!strcmp(a, "--optimizer")) {
            NEED_VALUE();
            ws_optimizer_kind k;
            if (ws_optimizer_parse(v, &k)) return bad(a, v, "is sgd, lars, adam or adamw");
            ws_optim_opts keep = o.optim;
            o.optim = ws_optim_opts_default(k);
            if (optimizer_given & 2) o.optim.momentum = keep.momentum;
            if (optimizer_given & 4) o.optim.weight_decay = keep.weight_decay;
            if (optimizer_given & 8) o.optim.decay_bn_and_bias = keep.decay_bn_and_bias;
            if (optimizer_given & 16) o.optim.nesterov = keep.nesterov;
            optimizer_given |= 1;
        } else if (!strcmp(a, "--momentum")) {
            DOUBLE_ARG(0, 1);
            o.optim.momentum = d;
            optimizer_given |= 2;
        } else if (!strcmp(a, "--weight-decay")) {
            DOUBLE_ARG(0, 1);
            o.optim.weight_decay = d;
            optimizer_given |= 4;
        } else if (!strcmp(a, "--no-decay-bn-bias")) {
            o.optim.decay_bn_and_bias = 0;
            optimizer_given |= 8;
        } else if (!strcmp(a, "--nesterov")) {
            o.optim.nesterov = 1;
            optimizer_given |= 16;
        } else if (!strcmp(a, "--lr")) {
            DOUBLE_ARG(0, 1000);
            o.lr.base_lr = d;
            recipe_given |= 1;
        } else if (!strcmp(a, "--lr-rule")) {
            NEED_VALUE();
            if (ws_lr_rule_parse(v, &o.lr.rule)) return bad(a, v, "is linear, sqrt or none");
            recipe_given |= 2;
        } else if (!strcmp(a, "--warmup-epochs")) {
            DOUBLE_ARG(0, 1e6);
            o.lr.warmup_epochs = d;
            recipe_given |= 4;
        } else if (!strcmp(a, "--schedule")) {
            NEED_VALUE();
            if (ws_sched_parse(v, &o.lr.kind)) return bad(a, v, "is plateau, cosine, multistep, poly or constant");
            recipe_given |= 8;
        } else if (!strcmp(a, "--schedule-epochs")) {
            DOUBLE_ARG(0.001, 1e6);
            o.schedule_epochs = d;
        } else if (!strcmp(a, "--plateau-factor")) {
            DOUBLE_ARG(0, 1);
            o.lr.plateau_factor = d;
        } else if (!strcmp(a, "--plateau-patience")) {
            LONG_ARG(0, 1000000);
            o.lr.plateau_patience = (int)l;
        } else if (!strcmp(a, "--min-lr")) {
            DOUBLE_ARG(0, 1000);
            o.lr.min_lr = d;
        } else if (!strcmp(a, "--gamma")) {
            DOUBLE_ARG(0, 1);
            o.lr.gamma = d;
        } else if (!strcmp(a, "--milestones")) {
            NEED_VALUE();
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            o.lr.n_milestones = 0;
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o.lr.n_milestones == 16 || to_double(t, 0, 1e9, &o.lr.milestones[o.lr.n_milestones]))
                    return bad(a, v, "wants up to 16 comma-separated epochs");
                o.lr.n_milestones++;
            }
        } else if (!strcmp(a, "--label-smoothing")) {
            DOUBLE_ARG(0, 0.999);
            o.label_smoothing = (float)d;
        } else if (!strcmp(a, "--device")) {
            NEED_VALUE();
            if (!strcmp(v, "cpu")) o.device = WS_DEVICE_CPU;
            else if (!strcmp(v, "cuda")) o.device = WS_DEVICE_CUDA;
            else return bad(a, v, "is cpu or cuda");
        } else if (!strcmp(a, "--precision")) {
            NEED_VALUE();
            if (ws_dtype_parse(v, &o.precision)) return bad(a, v, "is fp32, tf32, bf16 or fp16");
        } else if (!strcmp(a, "--gpu")) {
            LONG_ARG(0, 1023);
            o.gpu = (int)l;
        } else if (!strcmp(a, "--cuda-graph")) {
            NEED_VALUE();
            if (!strcmp(v, "auto")) o.cuda_graph = -1;
            else if (!strcmp(v, "on")) o.cuda_graph = 1;
            else if (!strcmp(v, "off")) o.cuda_graph = 0;
            else return bad(a, v, "is auto, on or off");
        } else if (!strcmp(a, "--deterministic")) {
            o.deterministic = 1;
        } else if (!strcmp(a, "--timing-warmup-steps")) {
            LONG_ARG(0, 1000000000L);
            o.timing_warmup_steps = l;
        } else if (!strcmp(a, "--threads")) {
            LONG_ARG(0, 4096);
            o.threads = (int)l;
        } else if (!strcmp(a, "--seed")) {
            LONG_ARG(0, 0x7fffffffL);
            o.seed = (uint64_t)l;
        } else if (!strcmp(a, "--out")) {
            NEED_VALUE();
            snprintf(o.out_dir, sizeof o.out_dir, "%s", v);
        } else if (!strcmp(a, "--resume")) {
            NEED_VALUE();
            snprintf(o.resume_dir, sizeof o.resume_dir, "%s", v);
        } else if (!strcmp(a, "--eval-every")) {
            LONG_ARG(0, 1000000);
            o.eval_every = (int)l;
        } else if (!strcmp(a, "--checkpoint-every")) {
            LONG_ARG(0, 1000000);
            o.checkpoint_every = (int)l;
        } else if (!strcmp(a, "--log-every")) {
            LONG_ARG(0, 1000000000L);
            o.log_every = (int)l;
        } else if (!strcmp(a, "--val-limit")) {
            LONG_ARG(0, 1000000000L);
            o.val_limit = l;
        } else if (!strcmp(a, "--meter-interval")) {
            DOUBLE_ARG(10, 60000);
            o.meter_interval_ms = d;
        } else if (!strcmp(a, "--meter-gpus")) {
            NEED_VALUE();
            if (!strcmp(v, "used")) o.meter_gpus = WS_METER_GPUS_USED;
            else if (!strcmp(v, "all")) o.meter_gpus = WS_METER_GPUS_ALL;
            else return bad(a, v, "is used (the GPUs this run trains on) or all (every GPU of the node)");
        } else if (!strcmp(a, "--step-log")) {
            NEED_VALUE();
            snprintf(o.step_log, sizeof o.step_log, "%s", v);
        } else if (!strcmp(a, "--bucket-mb")) {
            DOUBLE_ARG(0.001, 65536);
            o.bucket_mb = d;
        } else if (!strcmp(a, "--watchdog")) {
            DOUBLE_ARG(0, 1e7);
            o.watchdog_s = d;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else {
            fprintf(stderr, "wattscale train: unknown flag '%s' (see --help)\n", a);
            return 2;
        }
#undef NEED_VALUE
#undef LONG_ARG
#undef DOUBLE_ARG
    }
    if (!strcmp(o.model, "afno")) {
        /* FourCastNet's recipe where the flags leave it open (train.py: torch.optim.Adam(lr)
         * without weight decay, CosineAnnealingLR, no warm-up; AFNO.yaml: lr 5e-4 at its
         * batch, not rescaled) */
        if (!(optimizer_given & 1)) {
            ws_optim_opts keep = o.optim;
            o.optim = ws_optim_opts_default(WS_OPT_ADAM);
            if (optimizer_given & 8) o.optim.decay_bn_and_bias = keep.decay_bn_and_bias;
        }
        if (!(optimizer_given & 4)) o.optim.weight_decay = 0;
        if (!(recipe_given & 1)) o.lr.base_lr = 5e-4;
        if (!(recipe_given & 2)) o.lr.rule = WS_LR_RULE_NONE;
        if (!(recipe_given & 4)) o.lr.warmup_epochs = 0;
        if (!(recipe_given & 8)) o.lr.kind = WS_SCHED_COSINE;
    }
    /* --resume without --out continues writing into the resumed run's folder */
    int out_given = 0;
    for (int i = 1; i < argc; i++) out_given |= !strcmp(argv[i], "--out");
    if (o.resume_dir[0] && !out_given) snprintf(o.out_dir, sizeof o.out_dir, "%s", o.resume_dir);
    ws_error err = {0};
    ws_status st = ws_train_run(&o, &err);
    if (st != WS_OK) {
        fprintf(stderr, "wattscale train: %s\n", err.msg);
        return st == WS_EINVAL || st == WS_ENOTSUP ? 2 : 1;
    }
    return 0;
}
