"""A papermill engine that reports each finished cell, so a run can show how far it is.

papermill keeps engines in a registry (papermill.engines.papermill_engines); this one is
nbclient's engine with a hook on the execution manager's cell_complete.  The runner
passes `on_cell(done, total)` through execute_notebook's engine keyword arguments.
"""
from papermill.engines import NBClientEngine, papermill_engines

ENGINE = "crm-progress"


class ProgressEngine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, **kwargs):
        if on_cell is not None:
            total = len(nb_man.nb.cells)  # papermill calls cell_complete for every cell, markdown included
            complete = nb_man.cell_complete

            def cell_complete(cell, cell_index=None, **more):
                complete(cell, cell_index=cell_index, **more)
                on_cell((cell_index or 0) + 1, total)

            nb_man.cell_complete = cell_complete  # this run's manager only
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ProgressEngine)
