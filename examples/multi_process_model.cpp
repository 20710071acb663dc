// Keras's multi_gpu_model example, done with processes: one replica per rank, every global
// batch split across the ranks, gradients summed so that all replicas take the same step.
//   mpirun -np 8 ./build/examples/multi_process_model
#include "lockstep/lockstep.h"

using namespace lockstep;

int main(int argc, char** argv) {
  runtime::Runtime runtime(&argc, &argv);  // MPI, this rank, BLAS threads per rank
  return runtime::run_guarded(runtime, [&] {
    const int64_t num_samples = 1000, height = 28, width = 28, num_classes = 10;

    // The template model: a graph of layers with a residual block, whose input is added to
    // its output ("inputs" names what feeds a layer; without it, the layer before). Every rank
    // builds it; rank 0's weights are broadcast to all.
    auto model = nn::build_model(nlohmann::json::parse(R"({
      "name": "residual_cnn", "input_shape": [1, 28, 28],
      "layers": [
        {"type": "Conv2D", "filters": 16, "kernel_size": 5},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "pool_size": 2, "name": "block_in"},
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"},
        {"type": "ReLU"},
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "name": "block_out"},
        {"type": "Add", "inputs": ["block_in", "block_out"]},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "pool_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "units": 10}]})"),
                                 /*seed=*/1);

    // Replicates the model on every process of the job (8 with mpirun -np 8).
    parallel::DataParallel parallel_model(*model, runtime.world(), Device::cpu());
    parallel_model.compile(nn::make_loss("categorical_crossentropy"),
                           optim::make_optimizer("rmsprop", {}));

    // Dummy data: random images, labels from a random linear teacher. Rank 0 scatters it.
    const data::Dataset dataset =
        data::make_synthetic(num_samples, {1, height, width}, num_classes, /*seed=*/7);

    // This fit is distributed over the processes. With a global batch of 256 on 8 ranks,
    // each rank processes 32 samples per step.
    parallel::FitOptions options;
    options.epochs = 20;
    options.batch_size = 256;
    const parallel::Metrics last = parallel_model.fit(dataset, options);
    logging::info("last epoch: loss %.4f, accuracy %.4f", last.loss, last.accuracy);

    // Outputs for every sample, concatenated on rank 0 in input order: [1000, 10].
    const Tensor predictions = parallel_model.predict(dataset.inputs(), 256);

    // Save via the template model (which holds the replicas' weights).
    if (runtime.info().rank == 0) {
      logging::info("predictions %s", to_string(predictions.shape()).c_str());
      io::save_weights("my_model.safetensors", *model);
    }
    return 0;
  });
}
